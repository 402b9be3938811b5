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

use crate::error::{ModelError, Result};
use crate::nn::{xavier, LayerNorm, Linear, Mlp};
use crate::state::{key, put, Loader, StateDict};

/// Which keys a query may attend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPattern {
    /// Every key.
    Full,
    /// Keys in the same window of `w` consecutive positions (block-diagonal; the last block is clipped).
    Window(usize),
    /// Keys at the same or earlier positions (CLIP text encoder).
    Causal,
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

/// Causal boolean mask [len, len], `true` above the diagonal (blocked), as CLIP's `triu_(1)` `-inf` mask.
pub fn causal_mask<B: Backend>(len: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    let data: Vec<bool> = (0..len * len).map(|k| (k % len) > (k / len)).collect();
    Tensor::from_data(TensorData::new(data, [len, len]), device)
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
    /// PyTorch init: xavier-uniform `in_proj_weight`, zero biases, default Linear weight for `out_proj`.
    pub fn new(d: usize, n_head: usize, device: &B::Device) -> Self {
        let mut out_proj = Linear::new(d, d, true, device);
        out_proj.bias = Some(Param::from_tensor(Tensor::zeros([d], device)));
        Self {
            in_proj_weight: Param::from_tensor(xavier([3 * d, d], device)),
            in_proj_bias: Param::from_tensor(Tensor::zeros([3 * d], device)),
            out_proj,
            n_head,
        }
    }

    /// Loads `{prefix}.in_proj_weight`, `{prefix}.in_proj_bias`, `{prefix}.out_proj.*`.
    pub fn load(l: &mut Loader<B>, prefix: &str, d: usize, n_head: usize) -> Result<Self> {
        Ok(Self {
            in_proj_weight: l.param(&key(prefix, "in_proj_weight"), [3 * d, d])?,
            in_proj_bias: l.param(&key(prefix, "in_proj_bias"), [3 * d])?,
            out_proj: Linear::load(l, &key(prefix, "out_proj"), d, d, true)?,
            n_head,
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        put(out, key(prefix, "in_proj_weight"), &self.in_proj_weight);
        put(out, key(prefix, "in_proj_bias"), &self.in_proj_bias);
        self.out_proj.save(&key(prefix, "out_proj"), out);
    }

    /// Self-attention over [N, L, d]; `mask` [L, L] is `true` where attention is blocked.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        self.forward_qkv(x.clone(), x, mask)
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
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (hd as f64).sqrt()); // [n, h, lq, lk]
        let scores = match mask {
            Some(m) => {
                scores.mask_fill(m.unsqueeze::<4>().expand([n, h, lq, lk]), f32::NEG_INFINITY)
            }
            None => scores,
        };
        let attn = softmax(scores, 3);
        let o = attn.matmul(v).swap_dims(1, 2).reshape([n, lq, d]); // [n, lq, d]
        self.out_proj.forward(o)
    }

    /// Self-attention restricted to `pattern`; windows run as independent blocks (no T×T work).
    pub fn forward_pattern(&self, x: Tensor<B, 3>, pattern: AttentionPattern) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        match pattern {
            AttentionPattern::Full => self.forward(x, None),
            AttentionPattern::Causal => {
                let m = causal_mask::<B>(t, &x.device());
                self.forward(x, Some(m))
            }
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
    /// PyTorch default init.
    pub fn new(d: usize, heads: usize, device: &B::Device) -> Self {
        Self {
            attn: MultiheadAttention::new(d, heads, device),
            ln_1: LayerNorm::new(d, device),
            mlp: Mlp::new(d, 4 * d, device),
            ln_2: LayerNorm::new(d, device),
        }
    }

    /// Loads `{prefix}.attn.*`, `{prefix}.ln_1.*`, `{prefix}.mlp.*`, `{prefix}.ln_2.*`.
    pub fn load(l: &mut Loader<B>, prefix: &str, d: usize, heads: usize) -> Result<Self> {
        Ok(Self {
            attn: MultiheadAttention::load(l, &key(prefix, "attn"), d, heads)?,
            ln_1: LayerNorm::load(l, &key(prefix, "ln_1"), d)?,
            mlp: Mlp::load(l, &key(prefix, "mlp"), d, 4 * d)?,
            ln_2: LayerNorm::load(l, &key(prefix, "ln_2"), d)?,
        })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        self.attn.save(&key(prefix, "attn"), out);
        self.ln_1.save(&key(prefix, "ln_1"), out);
        self.mlp.save(&key(prefix, "mlp"), out);
        self.ln_2.save(&key(prefix, "ln_2"), out);
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
    /// `layers` freshly initialised blocks.
    pub fn new(d: usize, layers: usize, heads: usize, device: &B::Device) -> Self {
        Self {
            resblocks: (0..layers)
                .map(|_| ResidualAttentionBlock::new(d, heads, device))
                .collect(),
        }
    }

    /// Loads `{prefix}.resblocks.{0..layers}.*`.
    pub fn load(
        l: &mut Loader<B>,
        prefix: &str,
        d: usize,
        layers: usize,
        heads: usize,
    ) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            return Err(ModelError::Config(format!(
                "width {d} is not divisible by {heads} heads"
            )));
        }
        let resblocks = (0..layers)
            .map(|i| {
                ResidualAttentionBlock::load(l, &key(prefix, &format!("resblocks.{i}")), d, heads)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { resblocks })
    }

    /// Writes the parameters under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        for (i, b) in self.resblocks.iter().enumerate() {
            b.save(&key(prefix, &format!("resblocks.{i}")), out);
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
