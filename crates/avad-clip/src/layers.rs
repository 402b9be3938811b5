//! Shared transformer parts (pre-LN CLIP blocks) and their loaders for the HF and OpenAI weight layouts.

use burn::module::{Module, Param};
use burn::tensor::{activation, backend::Backend, Tensor};

use crate::config::Activation;
use crate::error::ClipError;
use crate::weights::{to_tensor, transpose, WeightMap};

/// Which naming scheme a weight file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// Hugging Face `CLIPModel` (`vision_model.encoder.layers.N.self_attn.q_proj.weight`, …).
    HuggingFace,
    /// OpenAI `clip` package state dict (`visual.transformer.resblocks.N.attn.in_proj_weight`, …).
    OpenAi,
}

/// Affine map `y = x W + b`. `weight` is kept as `[in, out]` (transposed from PyTorch's `[out, in]` at load).
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// `[N, in] → [N, out]`.
    pub fn forward2(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = x.matmul(self.weight.val());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim::<2>(0),
            None => y,
        }
    }

    /// `[B, S, in] → [B, S, out]`.
    pub fn forward3(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let out = self.weight.dims()[1];
        self.forward2(x.reshape([b * s, d])).reshape([b, s, out])
    }
}

/// LayerNorm over the last axis (biased variance, as PyTorch).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// `[D]` scale.
    pub weight: Param<Tensor<B, 1>>,
    /// `[D]` shift.
    pub bias: Param<Tensor<B, 1>>,
    /// Epsilon added to the variance.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Normalises the last axis of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let x = (x - mean) / (var + self.eps).sqrt();
        let w = self.weight.val().unsqueeze::<D>();
        let b = self.bias.val().unsqueeze::<D>();
        x * w + b
    }
}

/// Multi-head self-attention with HF CLIP names; an optional additive mask (HF uses `finfo(f32).min`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
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

impl<B: Backend> Attention<B> {
    /// `x [B, S, D]`, `mask [1, 1, S, S]` additive → `[B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let h = self.num_heads;
        let hd = d / h;
        let x2 = x.reshape([b * s, d]);
        let scale = (hd as f64).powf(-0.5);
        // [B, H, S, hd]
        let split = |t: Tensor<B, 2>| t.reshape([b, s, h, hd]).swap_dims(1, 2);
        let q = split(self.q_proj.forward2(x2.clone()) * scale);
        let k = split(self.k_proj.forward2(x2.clone()));
        let v = split(self.v_proj.forward2(x2));
        let mut scores = q.matmul(k.swap_dims(2, 3)); // [B, H, S, S]
        if let Some(m) = mask {
            scores = scores + m;
        }
        let p = activation::softmax(scores, 3);
        let o = p.matmul(v).swap_dims(1, 2).reshape([b * s, d]); // [B*S, D]
        self.out_proj.forward2(o).reshape([b, s, d])
    }
}

/// Two-layer MLP with quick_gelu or GELU.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `[D, I]`.
    pub fc1: Linear<B>,
    /// `[I, D]`.
    pub fc2: Linear<B>,
    /// true: quick_gelu `x·σ(1.702x)`; false: erf GELU.
    pub quick_gelu: bool,
}

impl<B: Backend> Mlp<B> {
    /// `[B, S, D] → [B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let hdn = self.fc1.forward2(x.reshape([b * s, d]));
        let hdn = if self.quick_gelu {
            hdn.clone() * activation::sigmoid(hdn * 1.702)
        } else {
            activation::gelu(hdn)
        };
        self.fc2.forward2(hdn).reshape([b, s, d])
    }
}

/// One pre-LN block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    /// Attention.
    pub self_attn: Attention<B>,
    /// LN before attention.
    pub layer_norm1: LayerNorm<B>,
    /// MLP.
    pub mlp: Mlp<B>,
    /// LN before the MLP.
    pub layer_norm2: LayerNorm<B>,
}

impl<B: Backend> EncoderLayer<B> {
    /// `[B, S, D] → [B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), mask);
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

/// A stack of [`EncoderLayer`]s.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// Blocks in order.
    pub layers: Vec<EncoderLayer<B>>,
}

impl<B: Backend> Encoder<B> {
    /// Runs every block.
    pub fn forward(&self, mut x: Tensor<B, 3>, mask: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        for l in &self.layers {
            x = l.forward(x, mask.clone());
        }
        x
    }
}

/// Sizes of one transformer stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackDims {
    pub width: usize,
    pub inter: usize,
    pub layers: usize,
    pub heads: usize,
    pub act: Activation,
    pub eps: f64,
}

/// Builds modules from a [`WeightMap`].
pub(crate) struct Loader<'a, B: Backend> {
    pub w: &'a WeightMap,
    pub dev: &'a B::Device,
}

impl<B: Backend> Loader<'_, B> {
    pub fn raw(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClipError> {
        Ok(self.w.require(name, shape)?.data.clone())
    }

    pub fn param<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<B, D>>, ClipError> {
        Ok(Param::from_tensor(to_tensor(
            self.raw(name, &shape)?,
            shape,
            self.dev,
        )))
    }

    /// PyTorch `nn.Linear` (`[out, in]` weight) named `{p}weight` / `{p}bias`.
    pub fn linear_out_in(
        &self,
        p: &str,
        din: usize,
        dout: usize,
        bias: bool,
    ) -> Result<Linear<B>, ClipError> {
        let w = self.raw(&format!("{p}weight"), &[dout, din])?;
        self.linear_from(
            transpose(&w, dout, din),
            din,
            dout,
            bias.then(|| format!("{p}bias")),
        )
    }

    /// A projection matrix stored `[in, out]` (OpenAI `visual.proj`, `text_projection`).
    pub fn linear_in_out(
        &self,
        name: &str,
        din: usize,
        dout: usize,
    ) -> Result<Linear<B>, ClipError> {
        let w = self.raw(name, &[din, dout])?;
        self.linear_from(w, din, dout, None)
    }

    fn linear_from(
        &self,
        w_in_out: Vec<f32>,
        din: usize,
        dout: usize,
        bias: Option<String>,
    ) -> Result<Linear<B>, ClipError> {
        let bias = match bias {
            Some(b) => Some(self.param(&b, [dout])?),
            None => None,
        };
        Ok(Linear {
            weight: Param::from_tensor(to_tensor(w_in_out, [din, dout], self.dev)),
            bias,
        })
    }

    pub fn layer_norm(&self, p: &str, d: usize, eps: f64) -> Result<LayerNorm<B>, ClipError> {
        Ok(LayerNorm {
            weight: self.param(&format!("{p}weight"), [d])?,
            bias: self.param(&format!("{p}bias"), [d])?,
            eps,
        })
    }

    /// HF: `{p}layers.{i}.…`; OpenAI: `{p}resblocks.{i}.…`.
    pub fn encoder(
        &self,
        p: &str,
        dims: StackDims,
        layout: WeightLayout,
    ) -> Result<Encoder<B>, ClipError> {
        let d = dims.width;
        let quick = dims.act == Activation::QuickGelu;
        let mut layers = Vec::with_capacity(dims.layers);
        for i in 0..dims.layers {
            let layer = match layout {
                WeightLayout::HuggingFace => {
                    let q = format!("{p}layers.{i}.");
                    EncoderLayer {
                        self_attn: Attention {
                            q_proj: self.linear_out_in(
                                &format!("{q}self_attn.q_proj."),
                                d,
                                d,
                                true,
                            )?,
                            k_proj: self.linear_out_in(
                                &format!("{q}self_attn.k_proj."),
                                d,
                                d,
                                true,
                            )?,
                            v_proj: self.linear_out_in(
                                &format!("{q}self_attn.v_proj."),
                                d,
                                d,
                                true,
                            )?,
                            out_proj: self.linear_out_in(
                                &format!("{q}self_attn.out_proj."),
                                d,
                                d,
                                true,
                            )?,
                            num_heads: dims.heads,
                        },
                        layer_norm1: self.layer_norm(&format!("{q}layer_norm1."), d, dims.eps)?,
                        mlp: Mlp {
                            fc1: self.linear_out_in(
                                &format!("{q}mlp.fc1."),
                                d,
                                dims.inter,
                                true,
                            )?,
                            fc2: self.linear_out_in(
                                &format!("{q}mlp.fc2."),
                                dims.inter,
                                d,
                                true,
                            )?,
                            quick_gelu: quick,
                        },
                        layer_norm2: self.layer_norm(&format!("{q}layer_norm2."), d, dims.eps)?,
                    }
                }
                WeightLayout::OpenAi => {
                    let q = format!("{p}resblocks.{i}.");
                    // in_proj packs q, k, v along the output axis: [3D, D] and [3D].
                    let wn = format!("{q}attn.in_proj_weight");
                    let bn = format!("{q}attn.in_proj_bias");
                    let w = self.raw(&wn, &[3 * d, d])?;
                    let b = self.raw(&bn, &[3 * d])?;
                    let part = |k: usize| -> Linear<B> {
                        let wk = transpose(&w[k * d * d..(k + 1) * d * d], d, d);
                        let bk = b[k * d..(k + 1) * d].to_vec();
                        Linear {
                            weight: Param::from_tensor(to_tensor(wk, [d, d], self.dev)),
                            bias: Some(Param::from_tensor(to_tensor(bk, [d], self.dev))),
                        }
                    };
                    EncoderLayer {
                        self_attn: Attention {
                            q_proj: part(0),
                            k_proj: part(1),
                            v_proj: part(2),
                            out_proj: self.linear_out_in(
                                &format!("{q}attn.out_proj."),
                                d,
                                d,
                                true,
                            )?,
                            num_heads: dims.heads,
                        },
                        layer_norm1: self.layer_norm(&format!("{q}ln_1."), d, dims.eps)?,
                        mlp: Mlp {
                            fc1: self.linear_out_in(
                                &format!("{q}mlp.c_fc."),
                                d,
                                dims.inter,
                                true,
                            )?,
                            fc2: self.linear_out_in(
                                &format!("{q}mlp.c_proj."),
                                dims.inter,
                                d,
                                true,
                            )?,
                            quick_gelu: quick,
                        },
                        layer_norm2: self.layer_norm(&format!("{q}ln_2."), d, dims.eps)?,
                    }
                }
            };
            layers.push(layer);
        }
        Ok(Encoder { layers })
    }
}
