//! The pre-LN transformer of both CLIP towers, with Hugging Face names (`layers.N.self_attn.q_proj`, …). Weights in
//! OpenAI's naming are renamed before loading (`layout.rs`).

use avad_nn::{
    load_weights, quick_gelu, LayerNorm, Linear, VisitWeights, WeightMap, WeightVisitor,
};
use burn::module::Module;
use burn::tensor::{activation, backend::Backend, Tensor};

use crate::config::Activation;
use crate::error::ClipError;
use crate::layout::{to_hf, WeightLayout};

/// Sizes of one transformer stack.
#[derive(Debug, Clone, Copy)]
pub struct StackDims {
    /// Width D.
    pub width: usize,
    /// MLP hidden width.
    pub inter: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// MLP activation.
    pub act: Activation,
    /// LayerNorm epsilon.
    pub eps: f64,
}

impl StackDims {
    /// The stack of a tower config (Hugging Face field values; `hidden_act` is `quick_gelu` or `gelu`).
    pub fn new(
        width: usize,
        inter: usize,
        layers: usize,
        heads: usize,
        hidden_act: &str,
        eps: f64,
    ) -> Result<Self, ClipError> {
        Ok(Self {
            width,
            inter,
            layers,
            heads,
            act: Activation::from_hf(hidden_act)?,
            eps,
        })
    }
}

/// Fills a tower skeleton with weights in either layout, keys under `prefix` (keys of other towers are ignored).
pub(crate) fn load_tower<M: VisitWeights>(
    mut tower: M,
    w: &WeightMap,
    layout: WeightLayout,
    prefix: &str,
) -> Result<M, ClipError> {
    load_weights(&mut tower, &to_hf(w, prefix, layout)?, "")?;
    Ok(tower)
}

/// Multi-head self-attention with an optional additive mask (HF `CLIPAttention`).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    /// Query projection.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection.
    pub out_proj: Linear<B>,
    /// Number of heads.
    pub num_heads: usize,
}

impl<B: Backend> ClipAttention<B> {
    fn placeholder(d: usize, heads: usize, device: &B::Device) -> Self {
        Self {
            q_proj: Linear::placeholder(d, d, true, device),
            k_proj: Linear::placeholder(d, d, true, device),
            v_proj: Linear::placeholder(d, d, true, device),
            out_proj: Linear::placeholder(d, d, true, device),
            num_heads: heads,
        }
    }

    /// `x [B, S, D]`, `mask [1, 1, S, S]` additive → `[B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let h = self.num_heads;
        let hd = d / h;
        let x2 = x.reshape([b * s, d]);
        let scale = (hd as f64).powf(-0.5);
        // [B, H, S, hd]
        let split = |t: Tensor<B, 2>| t.reshape([b, s, h, hd]).swap_dims(1, 2);
        let q = split(self.q_proj.forward(x2.clone()) * scale);
        let k = split(self.k_proj.forward(x2.clone()));
        let v = split(self.v_proj.forward(x2));
        let mut scores = q.matmul(k.swap_dims(2, 3)); // [B, H, S, S]
        if let Some(m) = mask {
            scores = scores + m;
        }
        let p = activation::softmax(scores, 3);
        let o = p.matmul(v).swap_dims(1, 2).reshape([b * s, d]); // [B*S, D]
        self.out_proj.forward(o).reshape([b, s, d])
    }
}

impl<B: Backend> VisitWeights for ClipAttention<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("q_proj", &mut self.q_proj);
        v.nested("k_proj", &mut self.k_proj);
        v.nested("v_proj", &mut self.v_proj);
        v.nested("out_proj", &mut self.out_proj);
    }
}

/// Two-layer MLP with quick_gelu or GELU (HF `CLIPMLP`).
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    /// `D → I`.
    pub fc1: Linear<B>,
    /// `I → D`.
    pub fc2: Linear<B>,
    /// true: quick_gelu `x·σ(1.702x)`; false: erf GELU.
    pub quick_gelu: bool,
}

impl<B: Backend> ClipMlp<B> {
    /// `[B, S, D] → [B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let hdn = self.fc1.forward(x);
        let hdn = if self.quick_gelu {
            quick_gelu(hdn)
        } else {
            activation::gelu(hdn)
        };
        self.fc2.forward(hdn)
    }
}

impl<B: Backend> VisitWeights for ClipMlp<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("fc1", &mut self.fc1);
        v.nested("fc2", &mut self.fc2);
    }
}

/// One pre-LN block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer<B: Backend> {
    /// ClipAttention.
    pub self_attn: ClipAttention<B>,
    /// LN before attention.
    pub layer_norm1: LayerNorm<B>,
    /// MLP.
    pub mlp: ClipMlp<B>,
    /// LN before the MLP.
    pub layer_norm2: LayerNorm<B>,
}

impl<B: Backend> ClipEncoderLayer<B> {
    /// `[B, S, D] → [B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), mask);
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

impl<B: Backend> VisitWeights for ClipEncoderLayer<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("self_attn", &mut self.self_attn);
        v.nested("layer_norm1", &mut self.layer_norm1);
        v.nested("mlp", &mut self.mlp);
        v.nested("layer_norm2", &mut self.layer_norm2);
    }
}

/// A stack of [`ClipEncoderLayer`]s (`layers.N`).
#[derive(Module, Debug)]
pub struct ClipEncoder<B: Backend> {
    /// Blocks in order.
    pub layers: Vec<ClipEncoderLayer<B>>,
}

impl<B: Backend> ClipEncoder<B> {
    /// A skeleton of `dims` to load weights into.
    pub fn placeholder(dims: StackDims, device: &B::Device) -> Self {
        let d = dims.width;
        let layers = (0..dims.layers)
            .map(|_| ClipEncoderLayer {
                self_attn: ClipAttention::placeholder(d, dims.heads, device),
                layer_norm1: LayerNorm::placeholder(d, dims.eps, device),
                mlp: ClipMlp {
                    fc1: Linear::placeholder(d, dims.inter, true, device),
                    fc2: Linear::placeholder(dims.inter, d, true, device),
                    quick_gelu: dims.act == Activation::QuickGelu,
                },
                layer_norm2: LayerNorm::placeholder(d, dims.eps, device),
            })
            .collect();
        Self { layers }
    }

    /// Runs every block.
    pub fn forward(&self, mut x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        for l in &self.layers {
            x = l.forward(x, mask.clone());
        }
        x
    }
}

impl<B: Backend> VisitWeights for ClipEncoder<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            v.nested(&format!("layers.{i}"), l);
        }
    }
}
