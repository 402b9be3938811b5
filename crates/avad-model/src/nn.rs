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

    /// [B, c_in, T] → [B, c_out, T + 2·padding − dilation·(k−1)].
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
