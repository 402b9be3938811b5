//! Plain (non-UKD) distillation of a student from a frozen teacher: the epoch loop of [`crate::trainer`] with
//! one more term in the loss, `kd_weight · L_kd`, where L_kd is, per valid snippet (padding masked out):
//!
//! * [`DistillKind::Scores`] (*teacher-score distillation*): the binary cross-entropy of the student's C-branch
//!   probability σ(s₁) against the teacher's σ(t₁), plus the cross-entropy of the student's A-branch class
//!   distribution softmax(s₂) against the teacher's softmax(t₂). The teacher's snippet scores are dense
//!   pseudo-labels: they say *where* in a weakly labelled video the anomaly is, which the video-level MIL losses
//!   never do.
//! * [`DistillKind::Features`]: the mean squared distance between the student's feature μ and the teacher's
//!   fused feature X_av (UKD without the learned variance θ).
//!
//! The UKD term is kept when `cfg.loss.ukd_weight > 0` (the two can be combined). Everything else (data split,
//! batching, seeding, checkpoints, resume, model selection) is the trainer's; the teacher runs on the inner
//! backend without gradient, as for UKD. `history.jsonl`'s `loss4` is the raw L_kd of each epoch here.

use std::time::Instant;

use avad_infer::{class_token_ids, StudentInput};
use avad_model::graph::valid_mask;
use avad_model::{compute_losses, AvadClip, ClassText, LossConfig};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn::tensor::backend::AutodiffBackend;

use crate::build::ClipSource;
use crate::checkpoint::{EpochRecord, Progress, RunWriter, TrainCheckpoint};
use crate::config::TrainConfig;
use crate::data::{epoch_batches, Batch, Dataset};
use crate::error::{Result, TrainError};
use crate::eval::{evaluate_epoch, is_improvement, TestSet};
use crate::optim::{AdamW, MultiStepLr};
use crate::resume::{start_or_resume, RunState};
use crate::step::StepLosses;
use crate::teacher::Teacher;
use crate::text::class_names;
use crate::trainer::{split_for_selection, step_seed, TrainOptions, TrainSummary};

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

/// L_kd of one batch (see the module docs) for the student output `out` against the teacher on the same batch.
fn kd_loss<B: AutodiffBackend>(
    kd: DistillKind,
    student: &avad_model::model::ModelOutput<B>,
    teacher: &avad_model::model::ModelOutput<B::InnerBackend>,
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

/// One training step with the plain distillation term. Returns the updated model and the loss values (`loss4` =
/// raw L_kd).
#[allow(clippy::too_many_arguments)]
fn kd_step<B: AutodiffBackend>(
    cfg: &TrainConfig,
    plain: PlainDistill,
    model: AvadClip<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    lr: f64,
    text: &ClassText<B>,
    batch: Batch<B>,
    teacher: &Teacher<B::InnerBackend>,
) -> Result<(AvadClip<B>, StepLosses)> {
    let t_audio = if teacher.config.audio.is_some() {
        batch.audio.clone().map(|a| a.inner())
    } else {
        None
    };
    let t_out = teacher.model.forward_with_text_features(
        batch.visual.clone().inner(),
        t_audio,
        &batch.lengths,
        teacher.text_features.clone(),
    )?;
    let visual = match cfg.modality {
        StudentInput::Visual => batch.visual.clone(),
        StudentInput::Audio => batch.audio.clone().ok_or_else(|| {
            TrainError::Data("modality = audio but the data has no audio features".into())
        })?,
    };
    let out = model.forward(visual, None, &batch.lengths, text)?;
    let l_kd = kd_loss::<B>(plain.kind, &out, &t_out, &batch.lengths);
    let target =
        (cfg.loss.ukd_weight > 0.0).then(|| Tensor::<B, 3>::from_inner(t_out.features.clone()));
    let loss_cfg: LossConfig = cfg.loss.clone();
    let losses = compute_losses(&out, batch.labels, &batch.lengths, &loss_cfg, target)?;
    let total = losses.total.clone() + l_kd.clone() * plain.weight;
    let value = |t: &Tensor<B, 1>| {
        t.clone()
            .inner()
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f64::NAN)
    };
    let values = StepLosses {
        total: value(&total),
        loss1: value(&losses.loss1),
        loss2: value(&losses.loss2),
        loss3: value(&losses.loss3),
        loss4: Some(value(&l_kd)),
    };
    if !values.total.is_finite() {
        return Err(TrainError::NonFiniteLoss { loss: values.total });
    }
    let grads = GradientsParams::from_grads(total.backward(), &model);
    Ok((optimizer.step(lr, model, grads), values))
}

/// Trains the student `cfg` with the task losses, the UKD term (when `cfg.loss.ukd_weight > 0`) and `plain`'s
/// distillation term against the frozen `teacher`. Checkpoints, resume (give the same `plain` again) and model
/// selection are those of [`crate::train`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_plain<B: AutodiffBackend>(
    cfg: &TrainConfig,
    plain: PlainDistill,
    clip: &ClipSource,
    teacher: &Teacher<B::InnerBackend>,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    let out = opts.out_dir.as_path();
    std::fs::create_dir_all(out.join("weights")).map_err(|e| TrainError::io(out, e))?;
    let RunState {
        mut model,
        cfg,
        mut optimizer,
        mut progress,
        resumed,
    } = start_or_resume::<B>(cfg, clip, out, opts.resume, device)?;
    let writer = RunWriter::new(
        out,
        &cfg,
        class_names(cfg.labels),
        Some(format!(
            "distilled ({} distillation, weight {:e}; UKD weight {:e}) from {}",
            plain.kind.as_str(),
            plain.weight,
            cfg.loss.ukd_weight,
            teacher.path.display()
        )),
        !resumed,
    );
    writer.save_config()?;
    let finish = |progress: Progress, steps_run: u64| -> Result<TrainSummary> {
        Ok(TrainSummary {
            model_json: writer.save_final(&progress)?,
            progress,
            resumed,
            steps_run,
        })
    };
    if progress.finished && progress.epoch >= cfg.epochs {
        return finish(progress, 0);
    }
    progress.finished = false;
    let (train_set, val_set) = split_for_selection(&cfg, train_data, test)?;
    tracing::info!(
        "preset {}: {} training rows, {} validation rows, {} epochs, {} student distilled from {} ({} \
         distillation, weight {:e}; UKD weight {:e})",
        cfg.preset,
        train_set.len(),
        val_set.as_ref().map_or(0, Dataset::len),
        cfg.epochs,
        cfg.modality.as_str(),
        teacher.path.display(),
        plain.kind.as_str(),
        plain.weight,
        cfg.loss.ukd_weight
    );
    let first_step = progress.global_step;
    let text = model.class_text(&class_token_ids(&writer.class_names))?;
    let sched = MultiStepLr::new(cfg.lr, cfg.milestones.clone(), cfg.gamma);
    for epoch in progress.epoch..cfg.epochs {
        let started = Instant::now();
        let lr = sched.lr_at(epoch);
        let batches = epoch_batches(&train_set, cfg.batching, cfg.batch_size, cfg.seed, epoch);
        if batches.is_empty() {
            return Err(TrainError::Data(format!(
                "epoch {epoch} has no batch (batch size {} too large?)",
                cfg.batch_size
            )));
        }
        let start = if epoch == progress.epoch {
            progress.step_in_epoch
        } else {
            0
        };
        for (s, idx) in batches.iter().enumerate().skip(start) {
            let batch = train_set.batch::<B>(idx, device)?;
            let rng = avad_nn::init::seeded::<B>(device, step_seed(cfg.seed, progress.global_step));
            let (next, losses) = match kd_step(
                &cfg,
                plain,
                model,
                &mut optimizer,
                lr,
                &text,
                batch,
                teacher,
            ) {
                Err(TrainError::NonFiniteLoss { loss }) => {
                    return Err(TrainError::Data(format!(
                        "loss is {loss} at epoch {epoch} step {s}"
                    )))
                }
                r => r?,
            };
            drop(rng);
            model = next;
            progress.record_step(epoch, s, &losses);
            let stop = opts.stop_after_steps == Some(progress.global_step);
            let periodic = cfg.save_every_steps > 0
                && progress
                    .global_step
                    .is_multiple_of(cfg.save_every_steps as u64);
            if (stop || periodic) && s + 1 < batches.len() {
                writer.save_last(&model.to_weights(), &optimizer, &progress)?;
            }
            if stop && s + 1 < batches.len() {
                return Err(TrainError::Stopped {
                    steps: progress.global_step,
                });
            }
        }
        let steps = batches.len();
        let metrics = evaluate_epoch(
            model.valid(),
            writer.class_names.clone(),
            val_set.as_ref(),
            test,
            cfg.frame_factor,
            opts.eval_batch_size,
        )?;
        let metric = metrics.selection_metric(cfg.selection);
        let means = progress.epoch_sums.mean_over(steps);
        let json = |m: Option<crate::eval::BranchMetrics>| {
            m.map(|m| serde_json::to_value(m).unwrap_or(serde_json::Value::Null))
        };
        let record = EpochRecord {
            epoch,
            lr,
            steps,
            loss: means.total,
            loss1: means.loss1,
            loss2: means.loss2,
            loss3: means.loss3,
            loss4: Some(progress.ukd_sum / steps as f64),
            val: json(metrics.val),
            test: json(metrics.test),
            selection_metric: metric,
            is_best: is_improvement(metric, progress.best_metric),
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            "epoch {}/{}: lr {:.1e} loss {:.4} (l1 {:.4} l2 {:.4} l3 {:.4} raw {} {:.4}){}{}{}",
            epoch + 1,
            cfg.epochs,
            lr,
            record.loss,
            record.loss1,
            record.loss2,
            record.loss3,
            plain.kind.as_str(),
            record.loss4.unwrap_or(f64::NAN),
            metrics
                .val
                .map(|m| format!(" | val video AP2 {:.4} AUC2 {:.4}", m.ap2, m.auc2))
                .unwrap_or_default(),
            metrics
                .test
                .map(|m| format!(" | test frame AP2 {:.4}", m.ap2))
                .unwrap_or_default(),
            if record.is_best { " [best]" } else { "" }
        );
        progress.close_epoch(record.clone());
        let mut model_sd = model.to_weights();
        if record.is_best {
            progress.best_metric = record.selection_metric;
            progress.best_epoch = Some(epoch);
            writer.save_best(&model_sd, &progress, epoch)?;
        } else if cfg.reload_best && progress.best_epoch.is_some() {
            let best = TrainCheckpoint::open(&opts.out_dir.join("best.json"))?;
            let (best, _) = AvadClip::<B>::from_weights(&cfg.model, &best.load_weights()?, device)?;
            model = best.freeze_clip();
            model_sd = model.to_weights();
        }
        if epoch + 1 == cfg.epochs {
            progress.finished = true;
        }
        writer.save_last(&model_sd, &optimizer, &progress)?;
        writer.save_history(&progress)?;
        if opts.stop_after_steps == Some(progress.global_step) && !progress.finished {
            return Err(TrainError::Stopped {
                steps: progress.global_step,
            });
        }
    }
    progress.finished = true;
    let steps_run = progress.global_step - first_step;
    finish(progress, steps_run)
}
