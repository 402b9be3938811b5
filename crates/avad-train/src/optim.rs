//! AdamW with PyTorch's semantics and MultiStepLR.
//!
//! burn-optim 0.21's `AdamW` computes the same update as `torch.optim.AdamW` (decoupled decay `p·(1−lr·wd)`, then
//! the bias-corrected Adam step), but keys its state by the random `ParamId`s of one process, so the state of a run
//! cannot be reloaded into a model rebuilt from a checkpoint. This AdamW keys its state by the parameter's module
//! path (`temporal.resblocks.0.attn.in_proj_weight`), which is stable across processes, saves it as named tensors
//! and follows PyTorch's operation order (`torch/optim/adamw.py`, `_single_tensor_adamw`):
//!
//! ```text
//! p  ← p · (1 − lr·wd)
//! m  ← β₁ m + (1−β₁) g
//! v  ← β₂ v + (1−β₂) g²
//! p  ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
//! ```
//!
//! Only parameters that received a gradient are touched (frozen ones, e.g. the CLIP text tower, and unused ones,
//! e.g. `disAdj.sigma`, are skipped, as PyTorch skips `p.grad is None`).

use std::collections::BTreeMap;

use avad_nn::WeightMap;
use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// AdamW hyperparameters except the learning rate (which the schedule supplies per step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// β₁ (PyTorch default 0.9).
    pub beta1: f64,
    /// β₂ (PyTorch default 0.999).
    pub beta2: f64,
    /// ε (PyTorch default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (PyTorch AdamW default 0.01).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Per-parameter AdamW state, flattened to 1-D.
#[derive(Debug, Clone)]
struct ParamState<B: Backend> {
    step: u64,
    exp_avg: Tensor<B, 1>,
    exp_avg_sq: Tensor<B, 1>,
}

/// AdamW whose state is keyed by parameter path (see the module docs). `B` is the inner (non-autodiff) backend.
#[derive(Debug, Clone)]
pub struct AdamW<B: Backend> {
    cfg: AdamWConfig,
    state: BTreeMap<String, ParamState<B>>,
}

impl<B: Backend> AdamW<B> {
    /// A fresh optimiser (no state).
    pub fn new(cfg: AdamWConfig) -> Self {
        Self {
            cfg,
            state: BTreeMap::new(),
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// Number of parameters that have state (i.e. have been stepped at least once).
    pub fn num_tracked(&self) -> usize {
        self.state.len()
    }

    /// Step count of the parameter at `path` (0 when never stepped).
    pub fn param_step(&self, path: &str) -> u64 {
        self.state.get(path).map(|s| s.step).unwrap_or(0)
    }

    /// One optimisation step with learning rate `lr` over every parameter of `module` that has a gradient in
    /// `grads`; returns the updated module (parameters keep their ids and `require_grad` flags).
    pub fn step<AB, M>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
    {
        let mut mapper = AdamWMapper::<AB> {
            cfg: self.cfg,
            lr,
            state: &mut self.state,
            grads: &mut grads,
            path: Vec::new(),
        };
        module.map(&mut mapper)
    }

    /// The state as named tensors: `exp_avg.<path>`, `exp_avg_sq.<path>` (f32, flattened) and `step.<path>`
    /// (i64 [1]).
    pub fn save_state(&self) -> WeightMap {
        let mut sd = WeightMap::new();
        for (path, s) in &self.state {
            sd.insert(
                format!("exp_avg.{path}"),
                s.exp_avg.to_data().convert::<f32>(),
            );
            sd.insert(
                format!("exp_avg_sq.{path}"),
                s.exp_avg_sq.to_data().convert::<f32>(),
            );
            sd.insert(
                format!("step.{path}"),
                TensorData::new(vec![s.step as i64], [1]),
            );
        }
        sd
    }

    /// Restores a state written by [`AdamW::save_state`] (replacing the current state).
    pub fn load_state(&mut self, sd: &WeightMap, device: &B::Device) -> Result<()> {
        let mut state = BTreeMap::new();
        for key in sd.keys() {
            let Some(path) = key.strip_prefix("step.") else {
                continue;
            };
            let get = |name: String| {
                sd.get(&name)
                    .cloned()
                    .ok_or_else(|| TrainError::Optimizer(format!("`{name}` is missing")))
            };
            let step_data = get(key.to_string())?;
            let step = match step_data.dtype {
                DType::I64 => step_data.to_vec::<i64>(),
                _ => step_data.convert::<i64>().to_vec::<i64>(),
            }
            .map_err(|e| TrainError::Optimizer(format!("`{key}`: {e:?}")))?;
            let step = *step
                .first()
                .ok_or_else(|| TrainError::Optimizer(format!("`{key}` is empty")))?;
            let m = get(format!("exp_avg.{path}"))?.convert::<f32>();
            let v = get(format!("exp_avg_sq.{path}"))?.convert::<f32>();
            if m.shape.len() != 1 || m.shape != v.shape {
                return Err(TrainError::Optimizer(format!(
                    "`{path}`: moments have shapes {:?} and {:?}",
                    m.shape, v.shape
                )));
            }
            state.insert(
                path.to_string(),
                ParamState {
                    step: step.max(0) as u64,
                    exp_avg: Tensor::from_data(m, device),
                    exp_avg_sq: Tensor::from_data(v, device),
                },
            );
        }
        self.state = state;
        Ok(())
    }
}

struct AdamWMapper<'a, AB: AutodiffBackend> {
    cfg: AdamWConfig,
    lr: f64,
    state: &'a mut BTreeMap<String, ParamState<AB::InnerBackend>>,
    grads: &'a mut GradientsParams,
    path: Vec<String>,
}

impl<AB: AutodiffBackend> ModuleMapper<AB> for AdamWMapper<'_, AB> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<AB, D>>) -> Param<Tensor<AB, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<AB::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = self.path.join(".");
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let p = tensor.inner().reshape([n]);
        let g = grad.reshape([n]);
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.cfg;
        let lr = self.lr;

        // Decoupled weight decay.
        let p = if weight_decay != 0.0 {
            p.mul_scalar(1.0 - lr * weight_decay)
        } else {
            p
        };
        let (step, m, v) = match self.state.remove(&path) {
            Some(s) if s.exp_avg.dims()[0] == n => {
                let m = s.exp_avg.mul_scalar(beta1) + g.clone().mul_scalar(1.0 - beta1);
                let v = s.exp_avg_sq.mul_scalar(beta2) + g.clone().square().mul_scalar(1.0 - beta2);
                (s.step + 1, m, v)
            }
            _ => {
                let m = g.clone().mul_scalar(1.0 - beta1);
                let v = g.square().mul_scalar(1.0 - beta2);
                (1, m, v)
            }
        };
        let bc1 = 1.0 - beta1.powi(step as i32);
        let bc2 = 1.0 - beta2.powi(step as i32);
        let step_size = lr / bc1;
        let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(eps);
        let p = p - (m.clone() / denom).mul_scalar(step_size);
        self.state.insert(
            path,
            ParamState {
                step,
                exp_avg: m,
                exp_avg_sq: v,
            },
        );
        let mut out = Tensor::<AB, D>::from_inner(p.reshape(shape));
        if require_grad {
            out = out.require_grad();
        }
        Param::from_mapped_value(id, out, mapper)
    }
}

/// PyTorch `MultiStepLR`: `lr = base_lr · γ^(number of milestones ≤ epoch)`, stepped once per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiStepLr {
    /// Initial learning rate.
    pub base_lr: f64,
    /// Epoch indices at which the rate is multiplied by `gamma` (sorted on construction).
    pub milestones: Vec<usize>,
    /// Decay factor.
    pub gamma: f64,
}

impl MultiStepLr {
    /// A schedule starting at `base_lr`.
    pub fn new(base_lr: f64, mut milestones: Vec<usize>, gamma: f64) -> Self {
        milestones.sort_unstable();
        Self {
            base_lr,
            milestones,
            gamma,
        }
    }

    /// Learning rate used during 0-based `epoch` (after `epoch` calls of PyTorch's `scheduler.step()`).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let k = self.milestones.iter().filter(|&&m| m <= epoch).count();
        self.base_lr * self.gamma.powi(k as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_matches_pytorch() {
        // torch: MultiStepLR(opt(lr=1e-5), [3, 6, 10], 0.1): epochs 0-2 1e-5, 3-5 1e-6, 6-9 1e-7, 10+ 1e-8.
        let s = MultiStepLr::new(1e-5, vec![6, 3, 10], 0.1);
        let lrs: Vec<f64> = (0..12).map(|e| s.lr_at(e)).collect();
        let want = [
            1e-5, 1e-5, 1e-5, 1e-6, 1e-6, 1e-6, 1e-7, 1e-7, 1e-7, 1e-7, 1e-8, 1e-8,
        ];
        for (a, b) in lrs.iter().zip(want) {
            assert!((a - b).abs() < 1e-18, "{lrs:?}");
        }
    }
}
