//! One training step, shared by `avad train`, `avad distill` and `avad bench`: the forward pass of a batch with the
//! class text, the preset's losses (VadCLIP `src/xd_train.py`: `CLAS2`, `CLASM` and the text divergence; AVadCLIP
//! `src/xd_train_t.py` with the focal MIL-Align, `src/xd_train_s.py` with the UKD term of the paper's
//! uncertainty-driven feature distillation, and the plain distillation term of `avad distill --distill
//! scores|features`, `crate::kd`), one `backward()` on their weighted sum and the AdamW step over the
//! parameters that received gradients (the CLIP text tower is frozen).
//!
//! The caller seeds the backend before the step (dropout in the audio TCN draws from it).

use avad_infer::StudentInput;
use avad_model::{compute_losses, AvadClip, ClassText, Losses};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::config::TrainConfig;
use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::kd::{kd_loss, teacher_output, PlainDistill};
use crate::optim::AdamW;
use crate::teacher::Teacher;

/// The loss values of one step, read back from the device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    /// The weighted total that was back-propagated.
    pub total: f64,
    /// loss1: C-branch MIL BCE (`CLAS2`).
    pub loss1: f64,
    /// loss2: A-branch MIL-Align (`CLASM`, with focal for the AVadCLIP teacher and students).
    pub loss2: f64,
    /// loss3: text divergence of the class features.
    pub loss3: f64,
    /// loss4: raw (unweighted) UKD loss of a student distilled from a teacher, or raw L_kd of a plain
    /// distillation; `None` without a teacher.
    pub loss4: Option<f64>,
}

impl StepLosses {
    /// Reads the values of `losses` back.
    fn read<B: AutodiffBackend>(losses: &Losses<B>) -> Self {
        let value = |t: &Tensor<B, 1>| scalar(t.clone().inner());
        Self {
            total: value(&losses.total),
            loss1: value(&losses.loss1),
            loss2: value(&losses.loss2),
            loss3: value(&losses.loss3),
            loss4: losses.loss4.as_ref().map(value),
        }
    }
}

/// The first value of a tensor as f64 (NaN when it cannot be read).
fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// The model's inputs from a batch: the visual slot gets the visual features, or the audio ones for an audio
/// student; the audio slot gets the audio features when the model has an audio path.
fn model_inputs<B: Backend>(
    input: StudentInput,
    model_has_audio: bool,
    batch: &Batch<B>,
) -> Result<(Tensor<B, 3>, Option<Tensor<B, 3>>)> {
    match input {
        StudentInput::Audio => {
            let a = batch.audio.clone().ok_or_else(|| {
                TrainError::Data("modality = audio but the data has no audio features".into())
            })?;
            Ok((a, None))
        }
        StudentInput::Visual => Ok((
            batch.visual.clone(),
            if model_has_audio {
                batch.audio.clone()
            } else {
                None
            },
        )),
    }
}

/// The frozen teacher of a distilled step and how its outputs enter the loss.
#[derive(Debug)]
pub(crate) struct Distillation<'a, B: Backend> {
    /// The teacher, run on the step's batch without gradient.
    pub teacher: &'a Teacher<B>,
    /// The plain distillation term (`None`: UKD alone, against the teacher's fused feature X_av). With it, the UKD
    /// term is added only when `cfg.loss.ukd_weight > 0`.
    pub plain: Option<PlainDistill>,
}

impl<B: Backend> Distillation<'_, B> {
    /// What a step's `loss4` is the raw value of: `UKD`, or the plain distillation's kind.
    pub fn loss4_name(&self) -> &'static str {
        self.plain.map_or("UKD", |p| p.kind.as_str())
    }
}

/// One training step of `model` (configured by `cfg`) on `batch` at learning rate `lr`: forward with the class text
/// `text`, the losses of `cfg.loss` (with the UKD term against `teacher`'s fused features X_av, computed without
/// gradient on the same batch, when a teacher is given), `backward()`, and the `optimizer` step. Returns the
/// updated model and the loss values; a non-finite total is [`TrainError::NonFiniteLoss`] and is not applied.
pub fn train_step<B: AutodiffBackend>(
    cfg: &TrainConfig,
    model: AvadClip<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    lr: f64,
    text: &ClassText<B>,
    batch: Batch<B>,
    teacher: Option<&Teacher<B::InnerBackend>>,
) -> Result<(AvadClip<B>, StepLosses)> {
    let distill = teacher.map(|teacher| Distillation {
        teacher,
        plain: None,
    });
    distill_step(cfg, model, optimizer, lr, text, batch, distill.as_ref())
}

/// [`train_step`] with the teacher's part given as a [`Distillation`]: with a plain distillation the total also
/// holds `weight · L_kd` (`crate::kd`), and `loss4` is the raw L_kd instead of the raw UKD loss.
pub(crate) fn distill_step<B: AutodiffBackend>(
    cfg: &TrainConfig,
    model: AvadClip<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    lr: f64,
    text: &ClassText<B>,
    batch: Batch<B>,
    distill: Option<&Distillation<'_, B::InnerBackend>>,
) -> Result<(AvadClip<B>, StepLosses)> {
    let plain = distill.and_then(|d| d.plain);
    let teacher_out = match distill {
        Some(d) => Some(teacher_output(d.teacher, &batch)?),
        None => None,
    };
    let (visual, audio) = model_inputs(cfg.modality, cfg.model.audio.is_some(), &batch)?;
    let out = model.forward(visual, audio, &batch.lengths, text)?;
    let kd = match (plain, &teacher_out) {
        (Some(p), Some(t)) => Some((p.weight, kd_loss::<B>(p.kind, &out, t, &batch.lengths))),
        _ => None,
    };
    let target = teacher_out
        .filter(|_| plain.is_none() || cfg.loss.ukd_weight > 0.0)
        .map(|t| Tensor::<B, 3>::from_inner(t.features));
    let losses = compute_losses(&out, batch.labels, &batch.lengths, &cfg.loss, target)?;
    let (total, values) = match kd {
        None => {
            let values = StepLosses::read(&losses);
            (losses.total, values)
        }
        Some((weight, l_kd)) => {
            let total = losses.total.clone() + l_kd.clone() * weight;
            let value = |t: &Tensor<B, 1>| scalar(t.clone().inner());
            let values = StepLosses {
                total: value(&total),
                loss1: value(&losses.loss1),
                loss2: value(&losses.loss2),
                loss3: value(&losses.loss3),
                loss4: Some(value(&l_kd)),
            };
            (total, values)
        }
    };
    if !values.total.is_finite() {
        return Err(TrainError::NonFiniteLoss { loss: values.total });
    }
    let grads = GradientsParams::from_grads(total.backward(), &model);
    Ok((optimizer.step(lr, model, grads), values))
}
