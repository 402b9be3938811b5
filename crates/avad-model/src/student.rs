//! The visual-only student's feature-enhancement network (AVadCLIP `src/UEM.py: FE_Net`) and the
//! uncertainty-driven distillation loss (`src/xd_train_s.py: UC_Loss`).

use burn::prelude::*;
use burn::tensor::activation::relu;

use avad_nn::init::Init;
use avad_nn::{VisitWeights, WeightVisitor};

use crate::nn::Conv1d;

/// Key prefix of the FE net.
pub const FE_NET_PREFIX: &str = "fe_net";
/// Number of mean-branch bottlenecks (`btn=3`).
pub const FE_NET_BOTTLENECKS: usize = 3;

/// `FE_Net(d)`: mean branch `mu` = 3 × (x + ReLU(Conv1d(d,d,k3,p1)(x))); log-variance head
/// `theta = −(x + ReLU(c3(c2(ReLU(c0(x))))))` with c0 k1, c2 k3 p1, c3 k1. Both read the same input.
#[derive(Module, Debug)]
pub struct FeNet<B: Backend> {
    /// `conv.{i}.conv.0`: the bottleneck convolutions.
    pub conv: Vec<Conv1d<B>>,
    /// `theta.theta.0`: Conv1d(d, d, k1).
    pub theta_0: Conv1d<B>,
    /// `theta.theta.2`: Conv1d(d, d, k3, p1).
    pub theta_2: Conv1d<B>,
    /// `theta.theta.3`: Conv1d(d, d, k1).
    pub theta_3: Conv1d<B>,
}

impl<B: Backend> FeNet<B> {
    /// PyTorch default init (or placeholders).
    pub fn new(d: usize, init: Init, device: &B::Device) -> Self {
        Self {
            conv: (0..FE_NET_BOTTLENECKS)
                .map(|_| Conv1d::new([d, d, 3], 1, 1, init, device))
                .collect(),
            theta_0: Conv1d::new([d, d, 1], 0, 1, init, device),
            theta_2: Conv1d::new([d, d, 3], 1, 1, init, device),
            theta_3: Conv1d::new([d, d, 1], 0, 1, init, device),
        }
    }

    /// v [B, T, D] → (mu [B, T, D], theta [B, T, D]); theta plays the role of ln σ².
    pub fn forward(&self, v: Tensor<B, 3>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let x = v.swap_dims(1, 2); // [B, D, T]
        let mut mu = x.clone();
        for c in &self.conv {
            mu = mu.clone() + relu(c.forward(mu));
        }
        let h = relu(
            self.theta_3
                .forward(self.theta_2.forward(relu(self.theta_0.forward(x.clone())))),
        );
        let theta = (x + h).neg();
        (mu.swap_dims(1, 2), theta.swap_dims(1, 2))
    }
}

/// Keys `fe_net.conv.{0,1,2}.conv.0.*` and `fe_net.theta.theta.{0,2,3}.*`.
impl<B: Backend> VisitWeights for FeNet<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.scope(FE_NET_PREFIX, |v| {
            for (i, c) in self.conv.iter_mut().enumerate() {
                v.nested(&format!("conv.{i}.conv.0"), c);
            }
            v.nested("theta.theta.0", &mut self.theta_0);
            v.nested("theta.theta.2", &mut self.theta_2);
            v.nested("theta.theta.3", &mut self.theta_3);
        });
    }
}

/// `UC_Loss`: `mean((x_av − mu)² / (1e-6 + 2·exp(θ)) + θ)` over all elements → [1]. `x_av` is the frozen
/// teacher's fused feature (pass it detached).
pub fn ukd_loss<B: Backend>(
    x_av: Tensor<B, 3>,
    mu: Tensor<B, 3>,
    theta: Tensor<B, 3>,
) -> Tensor<B, 1> {
    let num = (x_av - mu).square();
    let den = theta.clone().exp() * 2.0 + 1e-6;
    (num / den + theta).mean()
}
