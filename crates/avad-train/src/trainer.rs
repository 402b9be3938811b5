//! The training loop (the official epoch loop of VadCLIP's `src/xd_train.py` and AVadCLIP's `src/xd_train_t.py`,
//! with a held-out validation split by default).
//!
//! A run starts or resumes ([`crate::resume`]), takes one training step per batch ([`crate::train_step`]; for a
//! distilled student with its teacher's part, UKD and/or a plain distillation term), and at each epoch's end
//! evaluates both branches on the validation split (video level) and, when given, on the annotated test set
//! (frame level), applies the selection rule ([`crate::eval`]) and saves its checkpoints
//! ([`crate::checkpoint`]); MultiStepLR sets each epoch's learning rate.
//!
//! Determinism: model init, shuffles and the validation split derive from `seed`; the backend RNG (dropout in
//! the audio TCN) is re-seeded from `(seed, global step)` before every step. A run stopped after any step and
//! resumed from `last.json` therefore takes exactly the steps of an uninterrupted run.

use std::path::PathBuf;
use std::time::Instant;

use avad_infer::class_token_ids;
use avad_model::{AvadClip, ClassText};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use indicatif::{ProgressBar, ProgressStyle};

use crate::build::ClipSource;
use crate::checkpoint::{EpochRecord, Progress, RunWriter, TrainCheckpoint};
use crate::config::{Selection, TrainConfig};
use crate::data::{epoch_batches, split_by_video, Dataset};
use crate::error::{Result, TrainError};
use crate::eval::{evaluate_epoch, is_improvement, BranchMetrics, EpochMetrics, TestSet};
use crate::optim::{AdamW, MultiStepLr};
use crate::resume::{start_or_resume, ResumeMode, RunState};
use crate::step::{distill_step, Distillation};
use crate::text::class_names;

/// Run-level options that are not part of the training recipe.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Output folder (checkpoints, history).
    pub out_dir: PathBuf,
    /// Resume behaviour.
    pub resume: ResumeMode,
    /// Debugging / tests: save `last.json` and stop with [`TrainError::Stopped`] once this many global steps are
    /// done.
    pub stop_after_steps: Option<u64>,
    /// Show an indicatif progress bar.
    pub progress_bar: bool,
    /// Batch size used for validation and test scoring.
    pub eval_batch_size: usize,
}

impl TrainOptions {
    /// Defaults for `out_dir`: automatic resume, no stop, no progress bar, evaluation batches of 16.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            resume: ResumeMode::Auto,
            stop_after_steps: None,
            progress_bar: false,
            eval_batch_size: 16,
        }
    }
}

/// What a finished (or already finished) run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// The final model checkpoint (`OUT/model.json`).
    pub model_json: PathBuf,
    /// Progress including the history of every epoch.
    pub progress: Progress,
    /// True when this call resumed an earlier run.
    pub resumed: bool,
    /// Optimiser steps taken by this call (less than the run's total after a resume).
    pub steps_run: u64,
}

/// The backend seed of the step taken after `step` earlier ones.
pub(crate) fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ step.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// Trains `cfg` on `train_data` (the whole training list; the validation split is taken from it) and writes
/// checkpoints to `opts.out_dir`. Resumes from `OUT/last.json` according to `opts.resume`; on resume the stored
/// configuration is used (only `epochs` may be raised). Returns the final model's location and the history.
///
/// The model reads `cfg.modality`'s features in its visual slot (the audio ones for an audio-only model) and the
/// audio features in its audio slot when it has one; `test`'s videos must already hold the model's inputs.
/// Students with a UKD weight > 0 are distilled instead (`distill`, which supplies the teacher).
pub fn train<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary> {
    if cfg.is_student() && cfg.loss.ukd_weight > 0.0 {
        return Err(TrainError::Config(format!(
            "preset `{}` is a UKD student (ukd_weight {}): train it with `avad distill --teacher CKPT`, or set \
             [loss] ukd_weight = 0 to train it without a teacher",
            cfg.preset, cfg.loss.ukd_weight
        )));
    }
    train_with_teacher::<B>(cfg, clip, train_data, test, opts, device, None)
}

/// The view of `data` the model reads at evaluation (audio in the visual slot for an audio student, no audio for
/// visual-only models).
fn model_view(data: &Dataset, cfg: &TrainConfig) -> Result<Dataset> {
    use avad_infer::StudentInput;
    match cfg.modality {
        StudentInput::Audio => data.audio_as_visual(),
        StudentInput::Visual if cfg.model.audio.is_none() => Ok(data.visual_only()),
        StudentInput::Visual => Ok(data.clone()),
    }
}

/// Checks `train_data` against `cfg` and splits it into the training rows and (for `selection = validation`) the
/// validation view; checks that the data the selection rule needs is there.
pub(crate) fn split_for_selection(
    cfg: &TrainConfig,
    train_data: &Dataset,
    test: Option<&TestSet>,
) -> Result<(Dataset, Option<Dataset>)> {
    if train_data.num_class != cfg.model.num_class {
        return Err(TrainError::Data(format!(
            "data has {} classes, the model {}",
            train_data.num_class, cfg.model.num_class
        )));
    }
    let (tr_idx, va_idx) = split_by_video(
        train_data,
        if cfg.selection == Selection::Validation {
            cfg.val_fraction
        } else {
            0.0
        },
        cfg.seed,
    );
    let train_set = train_data.subset(&tr_idx);
    let val_set = if va_idx.is_empty() {
        None
    } else {
        Some(model_view(&train_data.subset(&va_idx), cfg)?)
    };
    match cfg.selection {
        Selection::Validation if val_set.is_none() => {
            return Err(TrainError::Data("the validation split is empty (too few videos)".into()))
        }
        Selection::Test if test.is_none() => {
            return Err(TrainError::Config("--select-on-test needs --test-list and --annotations".into()))
        }
        Selection::Test => tracing::warn!(
            "model selection on the TEST set (official VadCLIP/AVadCLIP behaviour): reported test numbers are optimistic"
        ),
        _ => {}
    }
    if train_set.is_empty() {
        return Err(TrainError::Data("the training split is empty".into()));
    }
    Ok((train_set, val_set))
}

/// [`train`] with an optional frozen teacher (`distill`), run without gradient on each batch: its fused features
/// X_av are the UKD targets (the teacher runs only when `cfg.loss.ukd_weight > 0`), and with a plain distillation
/// its outputs are also the targets of `weight · L_kd` (the teacher then runs on every step).
pub(crate) fn train_with_teacher<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
    distill: Option<Distillation<'_, B::InnerBackend>>,
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
        distill.as_ref().map(|d| match d.plain {
            Some(p) => format!(
                "distilled ({} distillation, weight {:e}; UKD weight {:e}) from {}",
                p.kind.as_str(),
                p.weight,
                cfg.loss.ukd_weight,
                d.teacher.path.display()
            ),
            None => format!("distilled (UKD) from {}", d.teacher.path.display()),
        }),
        !resumed,
    );
    writer.save_config()?;

    if progress.finished && progress.epoch >= cfg.epochs {
        tracing::info!("{}: training already finished", out.display());
        return finish(&writer, progress, resumed, 0);
    }
    progress.finished = false;

    let (train_set, val_set) = split_for_selection(&cfg, train_data, test)?;
    // The teacher runs only when its outputs enter the loss.
    let distill = distill.filter(|d| d.plain.is_some() || cfg.loss.ukd_weight > 0.0);
    log_start(&cfg, &train_set, val_set.as_ref(), distill.as_ref());

    let first_step = progress.global_step;
    let text = model.class_text(&class_token_ids(&writer.class_names))?;
    let run = Run {
        cfg: &cfg,
        opts,
        device,
        writer: &writer,
        train_set,
        val_set,
        test,
        distill,
        text,
    };
    let sched = MultiStepLr::new(cfg.lr, cfg.milestones.clone(), cfg.gamma);
    for epoch in progress.epoch..cfg.epochs {
        let started = Instant::now();
        let lr = sched.lr_at(epoch);
        let batches = epoch_batches(
            &run.train_set,
            cfg.batching,
            cfg.batch_size,
            cfg.seed,
            epoch,
        );
        if batches.is_empty() {
            return Err(TrainError::Data(format!(
                "epoch {epoch} has no batch (batch size {} too large?)",
                cfg.batch_size
            )));
        }
        model = run.train_epoch(epoch, lr, &batches, model, &mut optimizer, &mut progress)?;
        let record = run.close_epoch(epoch, lr, batches.len(), started, &model, &mut progress)?;
        model = run.save_epoch(record, model, &optimizer, &mut progress)?;
    }
    progress.finished = true;
    let steps_run = progress.global_step - first_step;
    finish(&writer, progress, resumed, steps_run)
}

/// Logs what a run is about to train.
fn log_start<B: Backend>(
    cfg: &TrainConfig,
    train_set: &Dataset,
    val_set: Option<&Dataset>,
    distill: Option<&Distillation<'_, B>>,
) {
    tracing::info!(
        "preset {}: {} training rows, {} validation rows, selection {:?}, {} epochs{}",
        cfg.preset,
        train_set.len(),
        val_set.map_or(0, Dataset::len),
        cfg.selection,
        cfg.epochs,
        match distill {
            Some(Distillation {
                teacher,
                plain: Some(p),
            }) => format!(
                ", {} student distilled from {} ({} distillation, weight {:e}; UKD weight {:e})",
                cfg.modality.as_str(),
                teacher.path.display(),
                p.kind.as_str(),
                p.weight,
                cfg.loss.ukd_weight
            ),
            Some(d) => format!(
                ", {} student distilled from {} (UKD weight {:e})",
                cfg.modality.as_str(),
                d.teacher.path.display(),
                cfg.loss.ukd_weight
            ),
            None if cfg.is_student() =>
                format!(", {} student without UKD (weight 0)", cfg.modality.as_str()),
            None => String::new(),
        }
    );
}

/// Writes the final `model.json` and reports the run.
fn finish(
    writer: &RunWriter<'_>,
    progress: Progress,
    resumed: bool,
    steps_run: u64,
) -> Result<TrainSummary> {
    Ok(TrainSummary {
        model_json: writer.save_final(&progress)?,
        progress,
        resumed,
        steps_run,
    })
}

/// What stays fixed while a run trains: its configuration, data, class text, teacher and output.
struct Run<'a, B: AutodiffBackend> {
    cfg: &'a TrainConfig,
    opts: &'a TrainOptions,
    device: &'a B::Device,
    writer: &'a RunWriter<'a>,
    /// The training rows (the validation split removed).
    train_set: Dataset,
    /// The validation rows as the model reads them.
    val_set: Option<Dataset>,
    test: Option<&'a TestSet>,
    /// The frozen teacher and how it enters the loss, when it does.
    distill: Option<Distillation<'a, B::InnerBackend>>,
    /// The class prompts' token embeddings (the CLIP text tower is frozen, so they are computed once).
    text: ClassText<B>,
}

impl<B: AutodiffBackend> Run<'_, B> {
    /// What the steps' `loss4` is the raw value of (`UKD` or the plain distillation's kind).
    fn loss4_name(&self) -> &'static str {
        self.distill
            .as_ref()
            .map_or("UKD", Distillation::loss4_name)
    }

    /// A progress bar over the `len` steps of `epoch`, starting at `start` (hidden unless asked for).
    fn progress_bar(&self, epoch: usize, len: usize, start: usize) -> ProgressBar {
        if !self.opts.progress_bar {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "epoch {msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(format!("{}/{}", epoch + 1, self.cfg.epochs));
        pb.set_position(start as u64);
        pb
    }

    /// The steps of `epoch` over `batches` (from where `progress` stands), saving `last.json` every
    /// `save_every_steps` steps and stopping where `stop_after_steps` says. Returns the trained model.
    fn train_epoch(
        &self,
        epoch: usize,
        lr: f64,
        batches: &[Vec<usize>],
        mut model: AvadClip<B>,
        optimizer: &mut AdamW<B::InnerBackend>,
        progress: &mut Progress,
    ) -> Result<AvadClip<B>> {
        let (cfg, device) = (self.cfg, self.device);
        let start = if epoch == progress.epoch {
            progress.step_in_epoch
        } else {
            0
        };
        let pb = self.progress_bar(epoch, batches.len(), start);
        for (s, idx) in batches.iter().enumerate().skip(start) {
            let batch = self.train_set.batch::<B>(idx, device)?;
            // The step's dropout masks come from this seed alone, even with other seeded work on other threads.
            let rng = avad_nn::init::seeded::<B>(device, step_seed(cfg.seed, progress.global_step));
            let (next, losses) = match distill_step(
                cfg,
                model,
                optimizer,
                lr,
                &self.text,
                batch,
                self.distill.as_ref(),
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
            pb.inc(1);
            tracing::debug!(
                "epoch {epoch} step {s}: loss {:.5} (loss1 {:.5}, loss2 {:.5}, loss3 {:.5}{})",
                losses.total,
                losses.loss1,
                losses.loss2,
                losses.loss3,
                losses
                    .loss4
                    .map(|u| format!(", raw {} loss4 {u:.5}", self.loss4_name()))
                    .unwrap_or_default()
            );
            let stop = self.opts.stop_after_steps == Some(progress.global_step);
            let periodic = cfg.save_every_steps > 0
                && progress
                    .global_step
                    .is_multiple_of(cfg.save_every_steps as u64);
            if (stop || periodic) && s + 1 < batches.len() {
                self.writer
                    .save_last(&model.to_weights(), optimizer, progress)?;
            }
            if stop && s + 1 < batches.len() {
                pb.finish_and_clear();
                return Err(TrainError::Stopped {
                    steps: progress.global_step,
                });
            }
        }
        pb.finish_and_clear();
        Ok(model)
    }

    /// The end of `epoch` (`steps` steps at `lr`, begun at `started`): evaluates `model`, judges it by the
    /// selection rule, logs the epoch and closes it in `progress`. Returns its record.
    fn close_epoch(
        &self,
        epoch: usize,
        lr: f64,
        steps: usize,
        started: Instant,
        model: &AvadClip<B>,
        progress: &mut Progress,
    ) -> Result<EpochRecord> {
        let metrics = evaluate_epoch(
            model.valid(),
            self.writer.class_names.clone(),
            self.val_set.as_ref(),
            self.test,
            self.cfg.frame_factor,
            self.opts.eval_batch_size,
        )?;
        let metric = metrics.selection_metric(self.cfg.selection);
        let means = progress.epoch_sums.mean_over(steps);
        let record = EpochRecord {
            epoch,
            lr,
            steps,
            loss: means.total,
            loss1: means.loss1,
            loss2: means.loss2,
            loss3: means.loss3,
            loss4: self
                .distill
                .as_ref()
                .map(|_| progress.ukd_sum / steps as f64),
            val: metrics.val.as_ref().map(metrics_json),
            test: metrics.test.as_ref().map(metrics_json),
            selection_metric: metric,
            is_best: is_improvement(metric, progress.best_metric),
            seconds: started.elapsed().as_secs_f64(),
        };
        log_epoch(&record, &metrics, self.cfg.epochs, self.loss4_name());
        progress.close_epoch(record.clone());
        Ok(record)
    }

    /// Saves the end of the epoch `record` describes: `best.json` when it is the best so far (else, under
    /// `reload_best`, continues from the best weights), `last.json` and the history. Returns the model to continue
    /// with; stops where `stop_after_steps` says.
    fn save_epoch(
        &self,
        record: EpochRecord,
        mut model: AvadClip<B>,
        optimizer: &AdamW<B::InnerBackend>,
        progress: &mut Progress,
    ) -> Result<AvadClip<B>> {
        let (cfg, epoch) = (self.cfg, record.epoch);
        let mut model_sd = model.to_weights();
        if record.is_best {
            progress.best_metric = record.selection_metric;
            progress.best_epoch = Some(epoch);
            self.writer.save_best(&model_sd, progress, epoch)?;
        } else if cfg.reload_best && progress.best_epoch.is_some() {
            // Official loop: continue from the best weights (optimiser state kept).
            let best = TrainCheckpoint::open(&self.opts.out_dir.join("best.json"))?;
            let (best, _) =
                AvadClip::<B>::from_weights(&cfg.model, &best.load_weights()?, self.device)?;
            model = best.freeze_clip();
            model_sd = model.to_weights();
            tracing::info!(
                "reloaded the best weights (epoch {})",
                progress.best_epoch.unwrap_or(0) + 1
            );
        }
        if epoch + 1 == cfg.epochs {
            progress.finished = true;
        }
        self.writer.save_last(&model_sd, optimizer, progress)?;
        self.writer.save_history(progress)?;
        if self.opts.stop_after_steps == Some(progress.global_step) && !progress.finished {
            return Err(TrainError::Stopped {
                steps: progress.global_step,
            });
        }
        Ok(model)
    }
}

/// Branch metrics as the JSON object of `history.jsonl`.
fn metrics_json(m: &BranchMetrics) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or(serde_json::Value::Null)
}

/// Logs one finished epoch (`loss4_name`: what its `loss4` is the raw value of).
fn log_epoch(record: &EpochRecord, metrics: &EpochMetrics, epochs: usize, loss4_name: &str) {
    let branch = |what: &str, m: Option<BranchMetrics>| {
        m.map(|m| {
            format!(
                " | {what} AP1 {:.4} AUC1 {:.4} AP2 {:.4} AUC2 {:.4}",
                m.ap1, m.auc1, m.ap2, m.auc2
            )
        })
        .unwrap_or_default()
    };
    tracing::info!(
        "epoch {}/{epochs}: lr {:.1e} loss {:.4} (l1 {:.4} l2 {:.4} l3 {:.4}{}){}{}{}",
        record.epoch + 1,
        record.lr,
        record.loss,
        record.loss1,
        record.loss2,
        record.loss3,
        record
            .loss4
            .map(|u| format!(" raw {loss4_name} {u:.4}"))
            .unwrap_or_default(),
        branch("val video", metrics.val),
        branch("test frame", metrics.test),
        if record.is_best { " [best]" } else { "" }
    );
}
