//! The global graph part of VadCLIP's LGT-Adapter (`src/model.py: adj4`, `src/utils/layers.py:
//! GraphConvolution, DistanceAdj`).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use avad_nn::init::{xavier, Init};
use avad_nn::{VisitWeights, WeightVisitor};

use crate::nn::Conv1d;

/// Cosine-similarity threshold of `adj4` (`F.threshold(S, 0.7, 0)`).
pub const ADJ_THRESHOLD: f64 = 0.7;

/// Boolean [B, T] mask, `true` at valid positions `t < lengths[b]`.
pub fn valid_mask<B: Backend>(
    lengths: &[usize],
    t: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let data: Vec<bool> = lengths
        .iter()
        .flat_map(|&l| (0..t).map(move |i| i < l))
        .collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), t]), device)
}

/// Similarity adjacency `adj4` [B, T, T], batched without per-video loops.
///
/// On each video's valid block `[:len, :len]`: cosine similarity `x xᵀ / (‖x‖‖x‖ᵀ + 1e-20)`, entries ≤ 0.7 set to 0,
/// then a row softmax over the valid columns (zeroed entries keep weight e⁰ = 1, as upstream). Rows and columns
/// outside the valid block are exactly 0. Every length must be ≥ 1.
pub fn adj4<B: Backend>(x: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 3> {
    let [b, t, _] = x.dims();
    let device = x.device();
    let x2 = x.clone().matmul(x.clone().swap_dims(1, 2)); // [B, T, T]
    let n = x.square().sum_dim(2).sqrt(); // [B, T, 1]
    let nn = n.clone().matmul(n.swap_dims(1, 2)); // [B, T, T]
    let s = x2 / (nn + 1e-20);
    let s = s.clone().mask_fill(s.lower_equal_elem(ADJ_THRESHOLD), 0.0);
    let valid = valid_mask::<B>(lengths, t, &device); // [B, T]
    let col_blocked = valid
        .clone()
        .bool_not()
        .unsqueeze_dim::<3>(1)
        .expand([b, t, t]);
    let a = softmax(s.mask_fill(col_blocked, f32::NEG_INFINITY), 2);
    let row_valid = valid.float().unsqueeze_dim::<3>(2); // [B, T, 1]
    a * row_valid
}

/// Distance adjacency `DistanceAdj` [T, T]: `exp(-|i-j| / e)`, unnormalised, unmasked.
pub fn distance_adj<B: Backend>(t: usize, device: &B::Device) -> Tensor<B, 2> {
    let e = std::f32::consts::E;
    let data: Vec<f32> = (0..t * t)
        .map(|k| {
            let d = ((k / t) as f32 - (k % t) as f32).abs();
            (-d / e).exp()
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [t, t]), device)
}

/// `GraphConvolution(in, out)`: `A (X W) + residual(X)`; no bias; residual is identity when in == out, else
/// `Conv1d(in, out, k=5, p=2)` along time.
#[derive(Module, Debug)]
pub struct GraphConvolution<B: Backend> {
    /// [in, out], xavier-uniform.
    pub weight: Param<Tensor<B, 2>>,
    /// Present when in ≠ out.
    pub residual: Option<Conv1d<B>>,
}

impl<B: Backend> GraphConvolution<B> {
    /// Xavier weight; PyTorch-default Conv1d residual when `d_in != d_out` (or placeholders).
    pub fn new(d_in: usize, d_out: usize, init: Init, device: &B::Device) -> Self {
        Self {
            weight: init.param([d_in, d_out], device, || xavier([d_in, d_out], device)),
            residual: (d_in != d_out).then(|| Conv1d::new([d_out, d_in, 5], 2, 1, init, device)),
        }
    }

    /// x [B, T, in], adj [B, T, T] → [B, T, out].
    pub fn forward(&self, x: Tensor<B, 3>, adj: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t, d_in] = x.dims();
        let d_out = self.weight.dims()[1];
        let support = x
            .clone()
            .reshape([b * t, d_in])
            .matmul(self.weight.val())
            .reshape([b, t, d_out]);
        let out = adj.matmul(support);
        match &self.residual {
            Some(conv) => out + conv.forward_time_major(x), // Conv1d along time, [B, T, out]
            None => out + x,
        }
    }
}

impl<B: Backend> VisitWeights for GraphConvolution<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param("weight", &mut self.weight);
        v.nested("residual", &mut self.residual);
    }
}
