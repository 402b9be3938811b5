//! Training losses (VadCLIP `src/xd_train.py: CLAS2, CLASM`; AVadCLIP `src/xd_train_t.py: CLASM` with focal,
//! `src/xd_train_s.py: UC_Loss`), batched over videos of different valid lengths with masks.
//!
//! Top-k uses `argsort` on detached scores plus `gather` (autodiff `topk` is not implemented in burn 0.21); the
//! gradient flows through the gathered values exactly as through PyTorch's `topk` values.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::graph::valid_mask;
use crate::model::ModelOutput;
use crate::nn::l2_normalize;
use crate::student::ukd_loss;

/// The MIL top-k size `k = ⌊len/16⌋ + 1`.
pub fn topk_size(len: usize) -> usize {
    len / 16 + 1
}

/// Mean of the top `k_b = ⌊len_b/16⌋+1` values over time, independently per column: values [B, T, C] → [B, C].
/// Only the valid rows `t < len_b` compete.
pub fn topk_mean_over_time<B: Backend>(
    values: Tensor<B, 3>,
    lengths: &[usize],
) -> Result<Tensor<B, 2>> {
    let [b, t, c] = values.dims();
    crate::model::check_lengths(lengths, b, t)?;
    let device = values.device();
    let blocked = valid_mask::<B>(lengths, t, &device)
        .bool_not()
        .unsqueeze_dim::<3>(2)
        .expand([b, t, c]);
    let keyed = values
        .clone()
        .detach()
        .mask_fill(blocked, f32::NEG_INFINITY);
    let order = keyed.argsort_descending(1); // [B, T, C]
    let sorted = values.gather(1, order); // [B, T, C], differentiable
    let ks: Vec<usize> = lengths.iter().map(|&l| topk_size(l)).collect();
    let rank_mask: Vec<f32> = ks
        .iter()
        .flat_map(|&k| (0..t).map(move |r| if r < k { 1.0 } else { 0.0 }))
        .collect();
    let rank_mask = Tensor::<B, 2>::from_data(TensorData::new(rank_mask, [b, t]), &device)
        .unsqueeze_dim::<3>(2);
    let inv_k: Vec<f32> = ks.iter().map(|&k| 1.0 / k as f32).collect();
    let inv_k = Tensor::<B, 1>::from_data(TensorData::new(inv_k, [b]), &device).reshape([b, 1]);
    Ok((sorted * rank_mask).sum_dim(1).reshape([b, c]) * inv_k)
}

/// PyTorch `F.binary_cross_entropy(p, y)` (mean; logs clamped at −100): p, y [B] → [1].
pub fn binary_cross_entropy<B: Backend>(p: Tensor<B, 1>, y: Tensor<B, 1>) -> Tensor<B, 1> {
    // PyTorch clamps log(p) at −100. Clamping *after* the log lets 0·∞ = NaN into the gradient when the sigmoid
    // saturates to exactly 0 or 1 in f32; clamping the probability first (at 1e-30, log = −69) keeps the gradient
    // finite and the value equal to PyTorch's for every p ≥ 1e-30 (and 1 − p ≥ 1e-30).
    let lp = p.clone().clamp_min(1e-30).log().clamp_min(-100.0);
    let lq = (p.neg() + 1.0).clamp_min(1e-30).log().clamp_min(-100.0);
    (y.clone() * lp + (y.neg() + 1.0) * lq).neg().mean()
}

/// CLAS2, the Top-K MIL BCE of the C-branch: `BCE(mean topk sigmoid(logits1), 1 − labels[:,0])`.
/// logits1 [B, T, 1], labels multi-hot [B, C] → [1].
pub fn clas2<B: Backend>(
    logits1: Tensor<B, 3>,
    labels: Tensor<B, 2>,
    lengths: &[usize],
) -> Result<Tensor<B, 1>> {
    let [b, _, one] = logits1.dims();
    if one != 1 {
        return Err(ModelError::Input(format!(
            "logits1 last axis is {one}, expected 1"
        )));
    }
    let s = topk_mean_over_time(sigmoid(logits1), lengths)?.reshape([b]);
    let y = labels.narrow(1, 0, 1).reshape([b]).neg() + 1.0;
    Ok(binary_cross_entropy(s, y))
}

/// Per-class top-k means `Z` [B, C] and the soft targets `ỹ = y / Σy` [B, C] of MIL-Align.
fn mil_align_parts<B: Backend>(
    logits2: Tensor<B, 3>,
    labels: Tensor<B, 2>,
    lengths: &[usize],
) -> Result<(Tensor<B, 2>, Tensor<B, 2>)> {
    let [b, _, c] = logits2.dims();
    if labels.dims() != [b, c] {
        return Err(ModelError::Input(format!(
            "labels {:?} do not match logits2 [{b}, _, {c}]",
            labels.dims()
        )));
    }
    let z = topk_mean_over_time(logits2, lengths)?;
    let soft = labels.clone() / labels.sum_dim(1);
    Ok((z, soft))
}

/// CLASM (MIL-Align) of VadCLIP: `−mean_b Σ_c ỹ log_softmax(Z)`. logits2 [B, T, C] → [1].
pub fn clasm<B: Backend>(
    logits2: Tensor<B, 3>,
    labels: Tensor<B, 2>,
    lengths: &[usize],
) -> Result<Tensor<B, 1>> {
    let (z, soft) = mil_align_parts(logits2, labels, lengths)?;
    Ok((soft * log_softmax(z, 1)).sum_dim(1).neg().mean())
}

/// AVadCLIP's CLASM: `(L_align + L_focal) / 2` with `L_focal = mean(−α_b (1−pt)^γ Σ ỹ log_softmax(Z))`,
/// `pt = Σ ỹ softmax(Z)`, `α_b = Σ ỹ α`. alpha [C] (learnable, init 0.25), gamma 2 officially.
pub fn clasm_focal<B: Backend>(
    logits2: Tensor<B, 3>,
    labels: Tensor<B, 2>,
    lengths: &[usize],
    alpha: Tensor<B, 1>,
    gamma: f64,
) -> Result<Tensor<B, 1>> {
    let (z, soft) = mil_align_parts(logits2, labels, lengths)?;
    let [b, c] = z.dims();
    let logp = log_softmax(z.clone(), 1);
    let ce = (soft.clone() * logp).sum_dim(1).reshape([b]); // Σ ỹ log p, [B]
    let align = ce.clone().neg().mean();
    let pt = (soft.clone() * softmax(z, 1)).sum_dim(1).reshape([b]);
    let alpha_b = (soft * alpha.reshape([1, c])).sum_dim(1).reshape([b]);
    let base = pt.neg() + 1.0;
    let modulating = if gamma == 2.0 {
        base.square()
    } else {
        base.clamp_min(0.0).powf_scalar(gamma)
    };
    let focal = (alpha_b * modulating * ce).neg().mean();
    Ok((align + focal) / 2.0)
}

/// Text-divergence term `Σ_{j≥1} |cos(t_0, t_j)| / divisor` on the class features before the prompt: t [C, E] → [1].
/// Official divisors: 6 (XD, hard-coded for 7 classes) and 13 (UCF, then ×0.1).
pub fn text_divergence<B: Backend>(t: Tensor<B, 2>, divisor: f64) -> Tensor<B, 1> {
    let [c, _] = t.dims();
    let tn = l2_normalize(t);
    let t0 = tn.clone().narrow(0, 0, 1); // [1, E]
    let rest = tn.narrow(0, 1, c - 1); // [C-1, E]
    rest.matmul(t0.transpose()).abs().sum() / divisor
}

/// Which losses make up the total, and their weights (per preset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Use AVadCLIP's `(L_align + L_focal)/2` for loss2 (needs the model's α); else VadCLIP's CLASM.
    pub focal: bool,
    /// Focal γ (official 2).
    pub focal_gamma: f64,
    /// Divisor of the text-divergence sum (6 for XD, 13 for UCF).
    pub text_divergence_divisor: f64,
    /// Weight of loss3 in the total (1e-4 for XD; UCF: 0.1).
    pub text_divergence_weight: f64,
    /// Weight of the UKD loss4 (student only; official 1e-8 XD, 1e-7 CCTV).
    pub ukd_weight: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self::vadclip_xd()
    }
}

impl LossConfig {
    /// VadCLIP on XD-Violence: `loss1 + loss2 + 1e-4·loss3`.
    pub fn vadclip_xd() -> Self {
        Self {
            focal: false,
            focal_gamma: 2.0,
            text_divergence_divisor: 6.0,
            text_divergence_weight: 1e-4,
            ukd_weight: 0.0,
        }
    }

    /// VadCLIP on UCF-Crime: `loss1 + loss2 + loss3/13·0.1`.
    pub fn vadclip_ucf() -> Self {
        Self {
            text_divergence_divisor: 13.0,
            text_divergence_weight: 0.1,
            ..Self::vadclip_xd()
        }
    }

    /// AVadCLIP teacher (XD and CCTV): `loss1 + (L_align+L_focal)/2 + 1e-4·loss3`.
    pub fn avadclip_teacher() -> Self {
        Self {
            focal: true,
            ..Self::vadclip_xd()
        }
    }

    /// AVadCLIP student: the teacher total + `ukd_weight·L_UKD` (1e-8 XD; use 1e-7 for CCTV).
    pub fn avadclip_student(ukd_weight: f64) -> Self {
        Self {
            ukd_weight,
            ..Self::avadclip_teacher()
        }
    }
}

/// The individual loss terms and their weighted total (each [1]).
#[derive(Debug, Clone)]
pub struct Losses<B: Backend> {
    /// CLAS2 (C-branch).
    pub loss1: Tensor<B, 1>,
    /// CLASM or `(L_align+L_focal)/2` (A-branch).
    pub loss2: Tensor<B, 1>,
    /// Text divergence.
    pub loss3: Tensor<B, 1>,
    /// UKD (student only).
    pub loss4: Option<Tensor<B, 1>>,
    /// Weighted sum, the tensor to call `backward` on.
    pub total: Tensor<B, 1>,
}

/// All losses of one batch from a model output. `labels` are multi-hot [B, C]; `teacher_features` (the frozen
/// teacher's X_av, detached here) is required when the output has a `theta` (student) and `ukd_weight` > 0.
pub fn compute_losses<B: Backend>(
    out: &ModelOutput<B>,
    labels: Tensor<B, 2>,
    lengths: &[usize],
    cfg: &LossConfig,
    teacher_features: Option<Tensor<B, 3>>,
) -> Result<Losses<B>> {
    let loss1 = clas2(out.logits1.clone(), labels.clone(), lengths)?;
    let loss2 = if cfg.focal {
        let alpha = out.alpha.clone().ok_or_else(|| {
            ModelError::Config("focal loss needs a model with a learnable alpha".into())
        })?;
        clasm_focal(out.logits2.clone(), labels, lengths, alpha, cfg.focal_gamma)?
    } else {
        clasm(out.logits2.clone(), labels, lengths)?
    };
    let loss3 = text_divergence(out.text_features.clone(), cfg.text_divergence_divisor);
    let mut total = loss1.clone() + loss2.clone() + loss3.clone() * cfg.text_divergence_weight;
    let loss4 = match (&out.theta, teacher_features) {
        (Some(theta), Some(xt)) => {
            let l4 = ukd_loss(xt.detach(), out.features.clone(), theta.clone());
            total = total + l4.clone() * cfg.ukd_weight;
            Some(l4)
        }
        (Some(_), None) if cfg.ukd_weight > 0.0 => {
            return Err(ModelError::Input(
                "UKD weight > 0 but no teacher features were given".into(),
            ))
        }
        _ => None,
    };
    Ok(Losses {
        loss1,
        loss2,
        loss3,
        loss4,
        total,
    })
}
