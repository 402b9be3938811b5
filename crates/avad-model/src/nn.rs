//! The model's small layers beyond avad-nn's `Linear` / `LayerNorm`: the 1-D convolution and the CLIP-style MLP,
//! with PyTorch parameter layouts and key names (`weight` `[out, in, k]`, `bias`; `c_fc`, `c_proj`).

use avad_nn::init::{uniform, Init};
use avad_nn::{quick_gelu, Linear, VisitWeights, WeightVisitor};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;

/// `x / ‖x‖₂` along the last axis, without epsilon (as the official code).
pub fn l2_normalize<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let n = x.clone().square().sum_dim(D - 1).sqrt();
    x / n
}

/// Valid (unpadded) 1-D convolution along time of an already padded, time-major input, as one GEMM per kernel tap:
/// `y[t] = bias + Σ_{j ≥ first_tap} x[t + j·dilation] · W[:, :, j]ᵀ` for x [B, T_in, c_in], weight [c_out, c_in, k]
/// (PyTorch layout) → [B, T_in − dilation·(k−1), c_out]. Taps before `first_tap` are left out (the caller knows
/// they only read zero padding). Each tap's GEMM reads its time window of x and its kernel slice of the weight as
/// strided views, so nothing is copied: burn's CPU `conv1d`, and reordering the weight to stack the taps, both cost
/// several times more than these GEMMs (docs/benchmarks.md).
pub fn conv1d_taps<B: Backend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    bias: Option<Tensor<B, 1>>,
    dilation: usize,
    first_tap: usize,
) -> Tensor<B, 3> {
    let [b, t_in, c_in] = x.dims();
    let [c_out, _, k] = weight.dims();
    let t_out = t_in
        .checked_sub(dilation * (k - 1))
        .expect("conv1d: input shorter than the dilated kernel");
    let mut y: Option<Tensor<B, 3>> = None;
    for j in first_tap..k {
        let w_j = weight.clone().narrow(2, j, 1).swap_dims(0, 2); // [1, c_in, c_out], a view
                                                                  // The tap's time window, copied contiguous so that the whole batch is one GEMM with M = B·T_out (a
                                                                  // batched GEMM against the broadcast weight would also sum B weight gradients in the backward pass).
        let x_j = x
            .clone()
            .narrow(1, j * dilation, t_out)
            .reshape([1, b * t_out, c_in]); // [1, B·T_out, c_in]
        let tap = x_j.matmul(w_j).reshape([b, t_out, c_out]); // [B, T_out, c_out]
        y = Some(match y {
            Some(y) => y + tap,
            None => tap,
        });
    }
    let y = y.unwrap_or_else(|| Tensor::zeros([b, t_out, c_out], &x.device()));
    match bias {
        Some(bias) => y + bias.reshape([1, 1, c_out]),
        None => y,
    }
}

/// 1-D convolution over [B, C, T] with PyTorch layout `weight` [out, in, k], `bias` [out].
#[derive(Module, Debug)]
pub struct Conv1d<B: Backend> {
    /// [c_out, c_in, k]
    pub weight: Param<Tensor<B, 3>>,
    /// [c_out]
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// Zero padding on both sides.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
}

impl<B: Backend> Conv1d<B> {
    /// PyTorch default init U(±1/√(c_in·k)) for weight and bias, or placeholders.
    pub fn new(
        shape: [usize; 3],
        padding: usize,
        dilation: usize,
        init: Init,
        device: &B::Device,
    ) -> Self {
        let [c_out, c_in, k] = shape;
        let bound = 1.0 / ((c_in * k) as f64).sqrt();
        Self {
            weight: init.param(shape, device, || uniform(shape, bound, device)),
            bias: Some(init.param([c_out], device, || uniform([c_out], bound, device))),
            padding,
            dilation,
        }
    }

    /// Time-major convolution [B, T, c_in] → [B, T + 2·padding − dilation·(k−1), c_out], the same values as
    /// [`Self::forward`] on the transposed layout (which is its test reference), computed by [`conv1d_taps`].
    pub fn forward_time_major(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, _, c_in] = x.dims();
        let p = self.padding;
        let x = if p > 0 {
            let zeros = Tensor::<B, 3>::zeros([b, p, c_in], &x.device());
            Tensor::cat(vec![zeros.clone(), x, zeros], 1) // [B, T + 2p, c_in]
        } else {
            x
        };
        conv1d_taps(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            self.dilation,
            0,
        )
    }

    /// [B, c_in, T] → [B, c_out, T + 2·padding − dilation·(k−1)] (burn's `conv1d`).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        conv1d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            ConvOptions::new([1], [self.padding], [self.dilation], 1),
        )
    }
}

impl<B: Backend> VisitWeights for Conv1d<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            v.param("bias", b);
        }
    }
}

/// Two-layer MLP `c_proj(QuickGELU(c_fc(x)))`: the temporal blocks' MLP and VadCLIP's `mlp1` / `mlp2`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Linear(d → hidden).
    pub c_fc: Linear<B>,
    /// Linear(hidden → d).
    pub c_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// PyTorch default init (or placeholders).
    pub fn new(d: usize, hidden: usize, init: Init, device: &B::Device) -> Self {
        Self {
            c_fc: Linear::init(d, hidden, true, init, device),
            c_proj: Linear::init(hidden, d, true, init, device),
        }
    }

    /// [..., d] → [..., d].
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.c_proj.forward(quick_gelu(self.c_fc.forward(x)))
    }
}

impl<B: Backend> VisitWeights for Mlp<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("c_fc", &mut self.c_fc);
        v.nested("c_proj", &mut self.c_proj);
    }
}
