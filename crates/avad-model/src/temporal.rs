//! The local temporal transformer (VadCLIP `src/model.py`: `ResidualAttentionBlock`, `Transformer`,
//! `build_attention_mask`): CLIP-style pre-LN blocks whose attention is block-diagonal over windows of snippets.
//!
//! Multi-head attention follows PyTorch `nn.MultiheadAttention` (packed `in_proj_weight` [3D, D], `in_proj_bias`,
//! `out_proj`), so official keys load unchanged. Sequences are batch-first here ([B, T, D]); the official code runs
//! sequence-first, which is the same computation.

use std::ops::Range;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use avad_nn::init::{xavier, Init};
use avad_nn::{LayerNorm, Linear, VisitWeights, WeightVisitor};

use crate::nn::Mlp;

/// Which keys a query may attend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPattern {
    /// Every key.
    Full,
    /// Keys in the same window of `w` consecutive positions (block-diagonal; the last block is clipped).
    Window(usize),
}

/// The contiguous position ranges of the attention windows of a sequence of `len` (last block clipped).
pub fn window_blocks(len: usize, window: usize) -> Vec<Range<usize>> {
    let w = window.max(1);
    (0..len).step_by(w).map(|s| s..(s + w).min(len)).collect()
}

/// Block-diagonal boolean mask [len, len], `true` where attention is **blocked**.
///
/// Equals the official additive mask (`-inf` off the diagonal blocks) whenever `window` divides `len` (all presets:
/// 64, 8, 4 with 256). For other windows the official loop leaves the tail rows fully `-inf` (NaN attention); here
/// the tail forms a last, shorter block instead.
pub fn window_mask_data(len: usize, window: usize) -> Vec<bool> {
    let w = window.max(1);
    let mut m = vec![true; len * len];
    for i in 0..len {
        for j in 0..len {
            if i / w == j / w {
                m[i * len + j] = false;
            }
        }
    }
    m
}

/// [`window_mask_data`] as a tensor on `device`.
pub fn window_mask<B: Backend>(
    len: usize,
    window: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    Tensor::from_data(
        TensorData::new(window_mask_data(len, window), [len, len]),
        device,
    )
}

/// PyTorch `nn.MultiheadAttention(d, heads)` self-attention with bias and no dropout.
#[derive(Module, Debug)]
pub struct MultiheadAttention<B: Backend> {
    /// [3d, d]: query, key and value projections stacked.
    pub in_proj_weight: Param<Tensor<B, 2>>,
    /// [3d]
    pub in_proj_bias: Param<Tensor<B, 1>>,
    /// Linear(d → d).
    pub out_proj: Linear<B>,
    /// Number of heads (d must be a multiple).
    pub n_head: usize,
}

impl<B: Backend> MultiheadAttention<B> {
    /// PyTorch init: xavier-uniform `in_proj_weight`, zero biases, default Linear weight for `out_proj` (or
    /// placeholders).
    pub fn new(d: usize, n_head: usize, init: Init, device: &B::Device) -> Self {
        let mut out_proj = Linear::init(d, d, true, init, device);
        if init == Init::Random {
            out_proj.bias = Some(Param::from_tensor(Tensor::zeros([d], device)));
        }
        Self {
            in_proj_weight: init.param([3 * d, d], device, || xavier([3 * d, d], device)),
            in_proj_bias: init.param([3 * d], device, || Tensor::zeros([3 * d], device)),
            out_proj,
            n_head,
        }
    }

    /// Self-attention over [N, L, d]; `mask` [L, L] is `true` where attention is blocked.
    ///
    /// The same computation as [`Self::forward_qkv`]`(x, x, mask)`, with the three input projections done as one
    /// GEMM on the packed `in_proj_weight` (as PyTorch's `F.multi_head_attention_forward` does for self-attention).
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let [n, l, d] = x.dims();
        let h = self.n_head;
        let hd = d / h;
        let qkv = x
            .reshape([n * l, d])
            .matmul(self.in_proj_weight.val().transpose())
            + self.in_proj_bias.val().unsqueeze_dim::<2>(0); // [n·l, 3d]
        let qkv = qkv.reshape([n, l, 3 * h, hd]).swap_dims(1, 2); // [n, 3h, l, hd]
        let q = qkv.clone().narrow(1, 0, h); // [n, h, l, hd]
        let k = qkv.clone().narrow(1, h, h);
        let v = qkv.narrow(1, 2 * h, h);
        self.attend(q, k, v, mask)
    }

    /// Scaled dot-product attention of q [n, h, lq, hd] over k, v [n, h, lk, hd] (`mask` [lq, lk], `true` where
    /// blocked), heads merged and `out_proj` applied → [n, lq, d].
    fn attend(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        mask: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 3> {
        let [n, h, lq, hd] = q.dims();
        let lk = k.dims()[2];
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (hd as f64).sqrt()); // [n, h, lq, lk]
        let scores = match mask {
            Some(m) => {
                scores.mask_fill(m.unsqueeze::<4>().expand([n, h, lq, lk]), f32::NEG_INFINITY)
            }
            None => scores,
        };
        let attn = softmax(scores, 3);
        let o = attn.matmul(v).swap_dims(1, 2).reshape([n, lq, h * hd]); // [n, lq, d]
        self.out_proj.forward(o)
    }

    /// Attention with queries from `xq` [N, Lq, d] and keys/values from `xkv` [N, Lk, d]; `mask` [Lq, Lk].
    pub fn forward_qkv(
        &self,
        xq: Tensor<B, 3>,
        xkv: Tensor<B, 3>,
        mask: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 3> {
        let [n, lq, d] = xq.dims();
        let lk = xkv.dims()[1];
        let h = self.n_head;
        let hd = d / h;
        let w = self.in_proj_weight.val(); // [3d, d]
        let b = self.in_proj_bias.val(); // [3d]
        let proj = |x: Tensor<B, 3>, part: usize, len: usize| -> Tensor<B, 4> {
            let wp = w.clone().narrow(0, part * d, d); // [d, d]
            let bp = b.clone().narrow(0, part * d, d); // [d]
            let y = x.reshape([n * len, d]).matmul(wp.transpose()) + bp.unsqueeze_dim::<2>(0);
            y.reshape([n, len, h, hd]).swap_dims(1, 2) // [n, h, len, hd]
        };
        let q = proj(xq, 0, lq);
        let k = proj(xkv.clone(), 1, lk);
        let v = proj(xkv, 2, lk);
        self.attend(q, k, v, mask)
    }

    /// Self-attention restricted to `pattern`; windows run as independent blocks (no T×T work).
    pub fn forward_pattern(&self, x: Tensor<B, 3>, pattern: AttentionPattern) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        match pattern {
            AttentionPattern::Full => self.forward(x, None),
            AttentionPattern::Window(w) => {
                let w = w.clamp(1, t.max(1));
                let full = t / w;
                let mut parts = Vec::new();
                if full > 0 {
                    let main = x.clone().narrow(1, 0, full * w).reshape([b * full, w, d]);
                    parts.push(self.forward(main, None).reshape([b, full * w, d]));
                }
                if full * w < t {
                    let tail = x.narrow(1, full * w, t - full * w);
                    parts.push(self.forward(tail, None));
                }
                if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else {
                    Tensor::cat(parts, 1)
                }
            }
        }
    }
}

/// CLIP `ResidualAttentionBlock`: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))` (QuickGELU MLP).
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock<B: Backend> {
    /// Self-attention.
    pub attn: MultiheadAttention<B>,
    /// Pre-attention LayerNorm.
    pub ln_1: LayerNorm<B>,
    /// `c_fc` (d → 4d) / `c_proj` (4d → d).
    pub mlp: Mlp<B>,
    /// Pre-MLP LayerNorm.
    pub ln_2: LayerNorm<B>,
}

impl<B: Backend> ResidualAttentionBlock<B> {
    /// PyTorch default init (or placeholders).
    pub fn new(d: usize, heads: usize, init: Init, device: &B::Device) -> Self {
        Self {
            attn: MultiheadAttention::new(d, heads, init, device),
            ln_1: LayerNorm::init(d, 1e-5, init, device),
            mlp: Mlp::new(d, 4 * d, init, device),
            ln_2: LayerNorm::init(d, 1e-5, init, device),
        }
    }

    /// [B, T, d] → [B, T, d].
    pub fn forward(&self, x: Tensor<B, 3>, pattern: AttentionPattern) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward_pattern(self.ln_1.forward(x), pattern);
        x.clone() + self.mlp.forward(self.ln_2.forward(x))
    }
}

/// A stack of [`ResidualAttentionBlock`]s (`resblocks.N`).
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// The blocks, in order.
    pub resblocks: Vec<ResidualAttentionBlock<B>>,
}

impl<B: Backend> Transformer<B> {
    /// `layers` freshly initialised blocks (or placeholders).
    pub fn new(d: usize, layers: usize, heads: usize, init: Init, device: &B::Device) -> Self {
        Self {
            resblocks: (0..layers)
                .map(|_| ResidualAttentionBlock::new(d, heads, init, device))
                .collect(),
        }
    }

    /// [B, T, d] → [B, T, d].
    pub fn forward(&self, mut x: Tensor<B, 3>, pattern: AttentionPattern) -> Tensor<B, 3> {
        for b in &self.resblocks {
            x = b.forward(x, pattern);
        }
        x
    }
}

impl<B: Backend> VisitWeights for MultiheadAttention<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("in_proj_weight", &mut self.in_proj_weight);
        v.param("in_proj_bias", &mut self.in_proj_bias);
        v.nested("out_proj", &mut self.out_proj);
    }
}

impl<B: Backend> VisitWeights for ResidualAttentionBlock<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("attn", &mut self.attn);
        v.nested("ln_1", &mut self.ln_1);
        v.nested("mlp", &mut self.mlp);
        v.nested("ln_2", &mut self.ln_2);
    }
}

impl<B: Backend> VisitWeights for Transformer<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        for (i, b) in self.resblocks.iter_mut().enumerate() {
            v.nested(&format!("resblocks.{i}"), b);
        }
    }
}
