//! The visual-only student's feature-enhancement network (AVadCLIP `src/UEM.py: FE_Net`) and the
//! uncertainty-driven distillation loss (`src/xd_train_s.py: UC_Loss`).

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::error::Result;
use crate::nn::Conv1d;
use crate::state::{key, Loader, StateDict};

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
    /// PyTorch default init.
    pub fn new(d: usize, device: &B::Device) -> Self {
        Self {
            conv: (0..FE_NET_BOTTLENECKS)
                .map(|_| Conv1d::new(d, d, 3, 1, 1, device))
                .collect(),
            theta_0: Conv1d::new(d, d, 1, 0, 1, device),
            theta_2: Conv1d::new(d, d, 3, 1, 1, device),
            theta_3: Conv1d::new(d, d, 1, 0, 1, device),
        }
    }

    /// Loads `fe_net.conv.{0,1,2}.conv.0.*` and `fe_net.theta.theta.{0,2,3}.*`.
    pub fn load(l: &mut Loader<B>, d: usize) -> Result<Self> {
        let p = FE_NET_PREFIX;
        let conv = (0..FE_NET_BOTTLENECKS)
            .map(|i| Conv1d::load(l, &key(p, &format!("conv.{i}.conv.0")), [d, d, 3], 1, 1))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv,
            theta_0: Conv1d::load(l, &key(p, "theta.theta.0"), [d, d, 1], 0, 1)?,
            theta_2: Conv1d::load(l, &key(p, "theta.theta.2"), [d, d, 3], 1, 1)?,
            theta_3: Conv1d::load(l, &key(p, "theta.theta.3"), [d, d, 1], 0, 1)?,
        })
    }

    /// Writes the parameters under their official keys.
    pub fn save(&self, out: &mut StateDict) {
        let p = FE_NET_PREFIX;
        for (i, c) in self.conv.iter().enumerate() {
            c.save(&key(p, &format!("conv.{i}.conv.0")), out);
        }
        self.theta_0.save(&key(p, "theta.theta.0"), out);
        self.theta_2.save(&key(p, "theta.theta.2"), out);
        self.theta_3.save(&key(p, "theta.theta.3"), out);
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
