//! Audio-visual fusion (AVadCLIP `src/model_t.py: TemporalGatedResidual`) and the paper's Table 5 ablations.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use avad_nn::init::Init;
use avad_nn::{gelu, Linear, VisitWeights, WeightVisitor};

use crate::error::{ModelError, Result};
use crate::temporal::MultiheadAttention;

/// Key prefix of the official adaptive fusion module.
pub const ADAPTIVE_PREFIX: &str = "temporalgatedresidual";
/// Key prefix of the non-official ablation fusions (no upstream weights exist for them).
pub const ABLATION_PREFIX: &str = "fusion";

/// How the visual feature v [B,T,D] and the audio feature a [B,T,Da] are combined into X_av [B,T,D].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionKind {
    /// Official: `X_av = v + sigmoid(Linear([v,a])) ⊙ Linear(GELU(Linear([v,a])))` (exact GELU).
    #[default]
    Adaptive,
    /// `X_av = v + a` (needs Da = D).
    Add,
    /// `X_av = Linear([v, a])`.
    ConcatLinear,
    /// `X_av = v + MHA(query = v, key = value = a)` (single head, full attention; needs Da = D).
    CrossAttention,
    /// No audio: `X_av = v` (VadCLIP).
    None,
}

impl FusionKind {
    /// Parses the CLI spelling (`adaptive`, `add`, `concat-linear`, `cross-attention`, `none`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "adaptive" => Self::Adaptive,
            "add" => Self::Add,
            "concat-linear" => Self::ConcatLinear,
            "cross-attention" => Self::CrossAttention,
            "none" => Self::None,
            other => {
                return Err(ModelError::Config(format!(
                    "unknown fusion `{other}` (adaptive, add, concat-linear, cross-attention, none)"
                )))
            }
        })
    }
}

/// The fusion module; only the fields of its kind are present.
#[derive(Module, Debug)]
pub struct Fusion<B: Backend> {
    /// Adaptive: `gate_proj.0`, Linear(D+Da → D) followed by a sigmoid.
    pub gate_proj: Option<Linear<B>>,
    /// Adaptive: `residual_proj.0`, Linear(D+Da → D), followed by exact GELU.
    pub residual_proj_0: Option<Linear<B>>,
    /// Adaptive: `residual_proj.2`, Linear(D → D).
    pub residual_proj_2: Option<Linear<B>>,
    /// Concat-linear: Linear(D+Da → D).
    pub linear: Option<Linear<B>>,
    /// Cross-attention: single-head attention with PyTorch MHA keys.
    pub cross_attn: Option<MultiheadAttention<B>>,
    /// Add: marker that the kind is `add` (no parameters).
    pub add: bool,
}

fn check(kind: FusionKind, d: usize, da: usize) -> Result<()> {
    if matches!(kind, FusionKind::Add | FusionKind::CrossAttention) && d != da {
        return Err(ModelError::Config(format!(
            "fusion {kind:?} needs equal visual ({d}) and audio ({da}) widths"
        )));
    }
    Ok(())
}

impl<B: Backend> Fusion<B> {
    fn empty() -> Self {
        Self {
            gate_proj: None,
            residual_proj_0: None,
            residual_proj_2: None,
            linear: None,
            cross_attn: None,
            add: false,
        }
    }

    /// Freshly initialised fusion of `kind` (or placeholders); `None` for [`FusionKind::None`].
    pub fn new(
        kind: FusionKind,
        d: usize,
        da: usize,
        init: Init,
        device: &B::Device,
    ) -> Result<Option<Self>> {
        check(kind, d, da)?;
        let mut f = Self::empty();
        match kind {
            FusionKind::None => return Ok(None),
            FusionKind::Adaptive => {
                f.gate_proj = Some(Linear::init(d + da, d, true, init, device));
                f.residual_proj_0 = Some(Linear::init(d + da, d, true, init, device));
                f.residual_proj_2 = Some(Linear::init(d, d, true, init, device));
            }
            FusionKind::Add => f.add = true,
            FusionKind::ConcatLinear => {
                f.linear = Some(Linear::init(d + da, d, true, init, device))
            }
            FusionKind::CrossAttention => {
                f.cross_attn = Some(MultiheadAttention::new(d, 1, init, device))
            }
        }
        Ok(Some(f))
    }

    /// v [B,T,D], a [B,T,Da] → X_av [B,T,D].
    pub fn forward(&self, v: Tensor<B, 3>, a: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward_with_gate(v, a).fused
    }

    /// Like [`Fusion::forward`], also returning the adaptive fusion's gate W and gated residual W ⊙ R
    /// (both `None` for the ablation kinds, which have no gate).
    pub fn forward_with_gate(&self, v: Tensor<B, 3>, a: Tensor<B, 3>) -> FusionOutput<B> {
        let plain = |fused| FusionOutput {
            fused,
            gate: None,
            gated_residual: None,
        };
        if let (Some(g), Some(r0), Some(r2)) = (
            &self.gate_proj,
            &self.residual_proj_0,
            &self.residual_proj_2,
        ) {
            let z = Tensor::cat(vec![v.clone(), a], 2); // [B, T, D+Da]
            let gate = sigmoid(g.forward(z.clone())); // [B, T, D]
            let res = r2.forward(gelu(r0.forward(z))); // [B, T, D]
            let gated = gate.clone() * res; // [B, T, D]
            return FusionOutput {
                fused: v + gated.clone(),
                gate: Some(gate),
                gated_residual: Some(gated),
            };
        }
        if let Some(lin) = &self.linear {
            return plain(lin.forward(Tensor::cat(vec![v, a], 2)));
        }
        if let Some(attn) = &self.cross_attn {
            return plain(v.clone() + attn.forward_qkv(v, a, None));
        }
        if self.add {
            return plain(v + a);
        }
        plain(v)
    }
}

/// Keys `temporalgatedresidual.{gate_proj.0, residual_proj.0, residual_proj.2}.*` (official adaptive fusion),
/// `fusion.{linear, cross_attn}.*` (ablations).
impl<B: Backend> VisitWeights for Fusion<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.scope(ADAPTIVE_PREFIX, |v| {
            v.nested("gate_proj.0", &mut self.gate_proj);
            v.nested("residual_proj.0", &mut self.residual_proj_0);
            v.nested("residual_proj.2", &mut self.residual_proj_2);
        });
        v.scope(ABLATION_PREFIX, |v| {
            v.nested("linear", &mut self.linear);
            v.nested("cross_attn", &mut self.cross_attn);
        });
    }
}

/// What [`Fusion::forward_with_gate`] returns.
#[derive(Debug, Clone)]
pub struct FusionOutput<B: Backend> {
    /// X_av [B, T, D].
    pub fused: Tensor<B, 3>,
    /// Adaptive fusion only: the per-dimension gate W = sigmoid(gate_proj(concat[v, a])), [B, T, D], in (0, 1).
    pub gate: Option<Tensor<B, 3>>,
    /// Adaptive fusion only: the gated residual W ⊙ R that is added to v, [B, T, D] (X_av = v + W ⊙ R).
    pub gated_residual: Option<Tensor<B, 3>>,
}
