//! Plain (non-UKD) distillation of a student from a frozen teacher: one more term in the loss of the training
//! step ([`crate::step`]), `kd_weight · L_kd`, where L_kd is, per valid snippet (padding masked out):
//!
//! * [`DistillKind::Scores`] (*teacher-score distillation*): the binary cross-entropy of the student's C-branch
//!   probability σ(s₁) against the teacher's σ(t₁), plus the cross-entropy of the student's A-branch class
//!   distribution softmax(s₂) against the teacher's softmax(t₂). The teacher's snippet scores are dense
//!   pseudo-labels: they say *where* in a weakly labelled video the anomaly is, which the video-level MIL losses
//!   never do.
//! * [`DistillKind::Features`]: the mean squared distance between the student's feature μ and the teacher's
//!   fused feature X_av (UKD without the learned variance θ).
//!
//! This module holds only the loss and the teacher's targets; the run (data split, batching, seeding, checkpoints,
//! resume, model selection) is the trainer's, which adds the term when its run carries a [`PlainDistill`]. The UKD
//! term is kept when `cfg.loss.ukd_weight > 0` (the two can be combined); the teacher runs on the inner backend
//! without gradient, as for UKD. `history.jsonl`'s `loss4` is the raw L_kd of each epoch here.

use avad_model::graph::valid_mask;
use avad_model::ModelOutput;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn::tensor::backend::AutodiffBackend;

use crate::data::Batch;
use crate::error::Result;
use crate::teacher::Teacher;

/// Which teacher signal a plain distillation matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistillKind {
    /// The teacher's snippet scores: C-branch σ(logits1) (BCE) and A-branch softmax(logits2) (cross-entropy).
    Scores,
    /// The teacher's fused feature X_av: mean squared error to the student's μ.
    Features,
}

impl DistillKind {
    /// The name used on the command line and in checkpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scores => "scores",
            Self::Features => "features",
        }
    }
}

/// A plain distillation: what to match and the weight of the term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlainDistill {
    /// The teacher signal.
    pub kind: DistillKind,
    /// Weight of L_kd in the total loss.
    pub weight: f64,
}

/// The frozen teacher's outputs on `batch`, computed on the inner backend without gradient: the targets of UKD
/// (its fused feature X_av, `features`) and of the plain distillations (also its logits). The teacher reads the
/// batch's visual features and, when it has an audio path, its audio features.
pub(crate) fn teacher_output<B: AutodiffBackend>(
    teacher: &Teacher<B::InnerBackend>,
    batch: &Batch<B>,
) -> Result<ModelOutput<B::InnerBackend>> {
    teacher.output(
        batch.visual.clone().inner(),
        batch.audio.clone().map(|a| a.inner()),
        &batch.lengths,
    )
}

/// L_kd of one batch (see the module docs) for the student output `student` against the teacher's output
/// `teacher` on the same batch (`lengths`: the valid snippets of each row).
pub(crate) fn kd_loss<B: AutodiffBackend>(
    kd: DistillKind,
    student: &ModelOutput<B>,
    teacher: &ModelOutput<B::InnerBackend>,
    lengths: &[usize],
) -> Tensor<B, 1> {
    let [b, t, _] = student.logits1.dims();
    let device = student.logits1.device();
    let mask = valid_mask::<B>(lengths, t, &device).float(); // [B, T]
    let n = (lengths.iter().sum::<usize>().max(1)) as f64;
    match kd {
        DistillKind::Scores => {
            // C branch: BCE(σ(s1), σ(t1)) = −[p log σ(s1) + (1 − p) log σ(−s1)].
            let p1 = Tensor::<B, 3>::from_inner(sigmoid(teacher.logits1.clone())).reshape([b, t]);
            let s1 = student.logits1.clone().reshape([b, t]);
            let bce = (p1.clone() * log_sigmoid(s1.clone())
                + (p1.ones_like() - p1) * log_sigmoid(s1.neg()))
            .neg();
            // A branch: cross-entropy of softmax(s2) against softmax(t2), summed over the classes.
            let p2 = Tensor::<B, 3>::from_inner(softmax(teacher.logits2.clone(), 2));
            let ce = (p2 * log_softmax(student.logits2.clone(), 2))
                .sum_dim(2)
                .reshape([b, t])
                .neg();
            ((bce + ce) * mask).sum().div_scalar(n)
        }
        DistillKind::Features => {
            let x = Tensor::<B, 3>::from_inner(teacher.features.clone());
            let se = (student.features.clone() - x)
                .powi_scalar(2)
                .mean_dim(2)
                .reshape([b, t]);
            (se * mask).sum().div_scalar(n)
        }
    }
}
