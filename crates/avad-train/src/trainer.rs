//! The training loop (official epoch loop of `src/xd_train.py` / `src/xd_train_t.py`, with a held-out validation
//! split by default), checkpointing and resume.
//!
//! Per step: forward on a batch, the preset's losses, one `backward()` on their weighted sum, AdamW over the
//! parameters that received gradients (the CLIP text tower is frozen). Per epoch: MultiStepLR, metrics of both
//! branches on the validation split (video level) and, when given, on the annotated test set (frame level), model
//! selection, checkpoints.
//!
//! Determinism: model init, shuffles and the validation split derive from `seed`; the backend RNG (dropout in
//! the audio TCN) is re-seeded from `(seed, global step)` before every step. A run stopped after any step and
//! resumed from `last.json` therefore takes exactly the steps of an uninterrupted run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use avad_model::{compute_losses, AvadClip, StateDict};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{collect_garbage, Checkpoint, CheckpointMeta, EpochRecord, Progress};
use crate::config::{Modality, Selection, TrainConfig};
use crate::data::{epoch_batches, split_by_video, Batch, Dataset};
use crate::distill::Teacher;
use crate::error::{Result, TrainError};
use crate::eval::{frame_level_metrics, video_level_metrics, BranchMetrics, TestVideo};
use crate::optim::{AdamW, AdamWConfig, MultiStepLr};
use crate::predict::Predictor;
use crate::text::{class_names, class_token_ids, load_clip_text_weights, random_clip_text};

/// Where the frozen CLIP text weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipSource {
    /// A Hugging Face CLIP folder, an OpenAI-named safetensors file or a PyTorch file (see
    /// [`load_clip_text_weights`]); the text shape in the model config is replaced by the one of the weights.
    Pretrained(PathBuf),
    /// A seeded random-weight text encoder of the configured shape (needs `random_clip = true`).
    Random,
}

/// Whether to continue from `OUT/last.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeMode {
    /// Resume when `OUT/last.json` exists, else start fresh.
    Auto,
    /// Resume; error when there is nothing to resume.
    Require,
    /// Start fresh; error when `OUT/last.json` exists (never overwrite a run silently).
    Never,
}

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

/// The annotated test set for per-epoch test metrics (and `--select-on-test`).
#[derive(Debug, Clone)]
pub struct TestSet {
    /// Videos with full-length features and frame ground truth.
    pub videos: Vec<TestVideo>,
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

fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ step.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// Builds a fresh model for `cfg` (seeded) with its CLIP text tower from `clip`; returns the model and the
/// config with the text shape of the loaded weights.
pub fn build_model<B: Backend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    device: &B::Device,
) -> Result<(AvadClip<B>, TrainConfig)> {
    let mut cfg = cfg.clone();
    let tower_sd = match clip {
        ClipSource::Pretrained(path) => {
            let (sd, text_cfg) = load_clip_text_weights(path)?;
            cfg.model.clip_text = text_cfg;
            Some(sd)
        }
        ClipSource::Random => {
            if !cfg.random_clip {
                return Err(TrainError::Config(format!(
                    "preset `{}` needs real CLIP text weights: pass --clip-model DIR (or set random_clip = true for experiments)",
                    cfg.preset
                )));
            }
            None
        }
    };
    cfg.validate()?;
    B::seed(device, cfg.seed);
    let mut model = AvadClip::<B>::new(&cfg.model, device)?;
    model = match tower_sd {
        Some(sd) => model.load_clip_text(&cfg.model.clip_text, &sd, "")?,
        None => {
            model.clipmodel = random_clip_text(&cfg.model.clip_text, cfg.seed, device);
            model
        }
    };
    Ok((model.freeze_clip(), cfg))
}

struct Writer<'a> {
    out: &'a Path,
    class_names: Vec<String>,
    cfg: &'a TrainConfig,
    /// Free-text provenance stored in every checkpoint (the teacher of a distilled student).
    source: Option<String>,
    /// Whether the shared CLIP file still has to be (re)written by this process (fresh runs rewrite it).
    clip_pending: std::cell::Cell<bool>,
}

impl Writer<'_> {
    fn meta(&self, weights: String) -> CheckpointMeta {
        let mut m = CheckpointMeta::new(self.cfg.model.clone(), self.class_names.clone(), weights);
        m.train_config = Some(self.cfg.clone());
        m.source = self.source.clone();
        m
    }

    fn save_weights(&self, sd: &StateDict, name: &str) -> Result<String> {
        let rel = format!("weights/{name}.safetensors");
        sd.save_safetensors(self.out.join(&rel))?;
        Ok(rel)
    }

    /// Writes the trainable tensors to `weights/<name>.safetensors` and the frozen `clipmodel.*` ones once to
    /// `weights/clip_text.safetensors` (shared by every checkpoint of the run); returns the meta naming both.
    fn save_model(&self, sd: &StateDict, name: &str) -> Result<CheckpointMeta> {
        let clip_prefix = format!("{}.", avad_model::model::CLIP_PREFIX);
        let mut own = StateDict::new();
        let mut clip = StateDict::new();
        for (k, v) in sd.iter() {
            if k.starts_with(&clip_prefix) {
                clip.insert(k, v.clone());
            } else {
                own.insert(k, v.clone());
            }
        }
        let clip_rel = "weights/clip_text.safetensors".to_string();
        if self.clip_pending.get() || !self.out.join(&clip_rel).is_file() {
            clip.save_safetensors(self.out.join(&clip_rel))?;
            self.clip_pending.set(false);
        }
        let mut meta = self.meta(self.save_weights(&own, name)?);
        meta.clip_weights = Some(clip_rel);
        Ok(meta)
    }

    /// Writes the resumable `last.json` (weights + optimiser state + progress).
    fn save_last<B: Backend>(
        &self,
        model_sd: &StateDict,
        opt: &AdamW<B>,
        progress: &Progress,
    ) -> Result<()> {
        let tag = format!("s{:08}-e{:03}", progress.global_step, progress.epoch);
        let mut meta = self.save_model(model_sd, &format!("model-{tag}"))?;
        meta.optimizer = Some(self.save_weights(&opt.to_state_dict(), &format!("optim-{tag}"))?);
        meta.progress = Some(progress.clone());
        meta.write(&self.out.join("last.json"))?;
        collect_garbage(self.out);
        Ok(())
    }

    fn save_best(&self, model_sd: &StateDict, progress: &Progress, epoch: usize) -> Result<()> {
        let mut meta = self.save_model(model_sd, &format!("best-e{epoch:03}"))?;
        meta.progress = Some(progress.clone());
        meta.write(&self.out.join("best.json"))?;
        collect_garbage(self.out);
        Ok(())
    }

    fn write_history(&self, progress: &Progress) -> Result<()> {
        let mut text = String::new();
        for r in &progress.history {
            text.push_str(&serde_json::to_string(r).map_err(|e| TrainError::Data(e.to_string()))?);
            text.push('\n');
        }
        Ok(avad_core::npy::write_atomic(
            &self.out.join("history.jsonl"),
            text.as_bytes(),
        )?)
    }
}

fn metrics_json(m: &BranchMetrics) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or(serde_json::Value::Null)
}

/// Trains `cfg` on `train_data` (the whole training list; the validation split is taken from it) and writes
/// checkpoints to `opts.out_dir`. Resumes from `OUT/last.json` according to `opts.resume`; on resume the stored
/// configuration is used (only `epochs` may be raised). Returns the final model's location and the history.
///
/// The model reads `cfg.modality`'s features in its visual slot (the audio ones for an audio-only model) and the
/// audio features in its audio slot when it has one; `test`'s videos must already hold the model's inputs.
/// Students with a UKD weight > 0 are trained by [`crate::distill::distill`], which supplies the teacher.
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

/// The model's inputs from a batch: the visual slot gets the visual features, or the audio ones under
/// `modality = audio`; the audio slot gets the audio features when the model has an audio path.
fn model_inputs<B: Backend>(
    modality: Modality,
    model_has_audio: bool,
    batch: &Batch<B>,
) -> Result<(Tensor<B, 3>, Option<Tensor<B, 3>>)> {
    match modality {
        Modality::Audio => {
            let a = batch.audio.clone().ok_or_else(|| {
                TrainError::Data("modality = audio but the data has no audio features".into())
            })?;
            Ok((a, None))
        }
        Modality::Visual => Ok((
            batch.visual.clone(),
            if model_has_audio {
                batch.audio.clone()
            } else {
                None
            },
        )),
    }
}

/// The view of `data` the model reads at evaluation (audio in the visual slot, or no audio for visual-only
/// models).
fn model_view(data: &Dataset, modality: Modality, model_has_audio: bool) -> Result<Dataset> {
    match modality {
        Modality::Audio => data.audio_as_visual(),
        Modality::Visual if !model_has_audio => Ok(data.visual_only()),
        Modality::Visual => Ok(data.clone()),
    }
}

/// [`train`] with an optional frozen teacher whose fused features X_av are the UKD targets (computed without
/// gradient on the same batch, only when `cfg.loss.ukd_weight > 0`).
pub(crate) fn train_with_teacher<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    train_data: &Dataset,
    test: Option<&TestSet>,
    opts: &TrainOptions,
    device: &B::Device,
    teacher: Option<&Teacher<B::InnerBackend>>,
) -> Result<TrainSummary> {
    let out = opts.out_dir.as_path();
    std::fs::create_dir_all(out.join("weights")).map_err(|e| TrainError::io(out, e))?;
    let last_json = out.join("last.json");

    // Fresh start or resume.
    let (mut model, cfg, mut opt, mut progress, resumed) = if last_json.is_file()
        && opts.resume != ResumeMode::Never
    {
        let ck = Checkpoint::open(&last_json)?;
        let mut saved = ck.meta.train_config.clone().ok_or_else(|| {
            TrainError::ckpt(&last_json, "no train_config (not a training checkpoint)")
        })?;
        if cfg.epochs != saved.epochs {
            tracing::info!("resume: epochs {} → {}", saved.epochs, cfg.epochs);
            saved.epochs = cfg.epochs;
        }
        let mut probe = cfg.clone();
        probe.epochs = saved.epochs;
        probe.model.clip_text = saved.model.clip_text.clone();
        if probe != saved {
            tracing::warn!("resume: the given settings differ from the checkpoint's; continuing with the checkpoint's");
        }
        let weights = ck.load_weights()?;
        let (model, _) = AvadClip::<B>::from_state_dict(&saved.model, &weights, device)?;
        let mut opt = AdamW::<B::InnerBackend>::new(adamw_config(&saved));
        if let Some(sd) = ck.load_optimizer()? {
            opt.load_state_dict(&sd, device)?;
        }
        let progress = ck.meta.progress.clone().unwrap_or_default();
        tracing::info!(
            "resuming {} at epoch {} step {} (global step {})",
            last_json.display(),
            progress.epoch,
            progress.step_in_epoch,
            progress.global_step
        );
        (model.freeze_clip(), saved, opt, progress, true)
    } else {
        if opts.resume == ResumeMode::Require {
            return Err(TrainError::ckpt(
                &last_json,
                "--resume given but there is no checkpoint to resume",
            ));
        }
        if last_json.is_file() {
            return Err(TrainError::ckpt(
                &last_json,
                "exists; refusing to start a fresh run over it (resume, or use another --out)",
            ));
        }
        let (model, cfg) = build_model::<B>(cfg, clip, device)?;
        let opt = AdamW::new(adamw_config(&cfg));
        (model, cfg, opt, Progress::default(), false)
    };
    let writer = Writer {
        out,
        class_names: class_names(cfg.labels),
        cfg: &cfg,
        source: teacher.map(|t| format!("distilled (UKD) from {}", t.path.display())),
        clip_pending: std::cell::Cell::new(!resumed),
    };
    let config_toml = cfg.to_toml()?;
    avad_core::npy::write_atomic(&out.join("config.toml"), config_toml.as_bytes())?;

    if progress.finished && progress.epoch >= cfg.epochs {
        tracing::info!("{}: training already finished", out.display());
        return finish(out, &writer, progress, resumed, 0);
    }
    progress.finished = false;

    // Data split and selection checks.
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
    let model_has_audio = cfg.model.audio.is_some();
    let val_set = if va_idx.is_empty() {
        None
    } else {
        Some(model_view(
            &train_data.subset(&va_idx),
            cfg.modality,
            model_has_audio,
        )?)
    };
    // The teacher runs only when its features enter the loss.
    let teacher = teacher.filter(|_| cfg.loss.ukd_weight > 0.0);
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
    tracing::info!(
        "preset {}: {} training rows, {} validation rows, selection {:?}, {} epochs{}",
        cfg.preset,
        train_set.len(),
        val_set.as_ref().map_or(0, Dataset::len),
        cfg.selection,
        cfg.epochs,
        match teacher {
            Some(t) => format!(
                ", {} student distilled from {} (UKD weight {:e})",
                cfg.modality.as_str(),
                t.path.display(),
                cfg.loss.ukd_weight
            ),
            None if cfg.is_student() =>
                format!(", {} student without UKD (weight 0)", cfg.modality.as_str()),
            None => String::new(),
        }
    );

    let first_step = progress.global_step;
    let token_ids = class_token_ids(&writer.class_names);
    let text = model.class_text(&token_ids)?;
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
        let pb = if opts.progress_bar {
            let pb = ProgressBar::new(batches.len() as u64);
            pb.set_style(
                ProgressStyle::with_template(
                    "epoch {msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            pb.set_message(format!("{}/{}", epoch + 1, cfg.epochs));
            pb.set_position(start as u64);
            pb
        } else {
            ProgressBar::hidden()
        };
        for (s, idx) in batches.iter().enumerate().skip(start) {
            let batch = train_set.batch::<B>(idx, device)?;
            B::seed(device, step_seed(cfg.seed, progress.global_step));
            let target = match teacher {
                Some(t) => Some(Tensor::<B, 3>::from_inner(t.features(
                    batch.visual.clone().inner(),
                    batch.audio.clone().map(|a| a.inner()),
                    &batch.lengths,
                )?)),
                None => None,
            };
            let (vis_in, aud_in) = model_inputs(cfg.modality, model_has_audio, &batch)?;
            let out_m = model.forward(vis_in, aud_in, &batch.lengths, &text)?;
            let losses = compute_losses(&out_m, batch.labels, &batch.lengths, &cfg.loss, target)?;
            let ukd = losses.loss4.clone().map(|l| scalar(l.inner()));
            let vals = [
                scalar(losses.total.clone().inner()),
                scalar(losses.loss1.clone().inner()),
                scalar(losses.loss2.clone().inner()),
                scalar(losses.loss3.clone().inner()),
            ];
            if !vals[0].is_finite() {
                return Err(TrainError::Data(format!(
                    "loss is {} at epoch {epoch} step {s}",
                    vals[0]
                )));
            }
            let grads = GradientsParams::from_grads(losses.total.backward(), &model);
            model = opt.step(lr, model, grads);
            for (acc, v) in progress.epoch_sums.iter_mut().zip(vals) {
                *acc += v;
            }
            progress.ukd_sum += ukd.unwrap_or(0.0);
            progress.global_step += 1;
            progress.step_in_epoch = s + 1;
            progress.epoch = epoch;
            pb.inc(1);
            tracing::debug!(
                "epoch {epoch} step {s}: loss {:.5} (loss1 {:.5}, loss2 {:.5}, loss3 {:.5}{})",
                vals[0],
                vals[1],
                vals[2],
                vals[3],
                ukd.map(|u| format!(", raw UKD loss4 {u:.5}"))
                    .unwrap_or_default()
            );
            let stop = opts.stop_after_steps == Some(progress.global_step);
            let periodic =
                cfg.save_every_steps > 0 && progress.global_step % cfg.save_every_steps as u64 == 0;
            if (stop || periodic) && s + 1 < batches.len() {
                writer.save_last(&model.to_state_dict(), &opt, &progress)?;
            }
            if stop && s + 1 < batches.len() {
                pb.finish_and_clear();
                return Err(TrainError::Stopped {
                    steps: progress.global_step,
                });
            }
        }
        pb.finish_and_clear();

        // Epoch end: metrics of both branches, selection, checkpoints.
        let steps = batches.len();
        let mean = |i: usize| progress.epoch_sums[i] / steps as f64;
        let valid = model.valid();
        let predictor = Predictor::new(valid, writer.class_names.clone())?;
        let val_m = match &val_set {
            Some(v) => Some(video_level_metrics(
                &predictor.model,
                predictor.text_features.clone(),
                v,
                opts.eval_batch_size,
            )?),
            None => None,
        };
        let test_m = match test {
            Some(t) => Some(frame_level_metrics(
                &predictor,
                &t.videos,
                cfg.frame_factor,
            )?),
            None => None,
        };
        drop(predictor);
        let metric = match cfg.selection {
            Selection::Validation => val_m.map(|m| m.ap2),
            Selection::Test => test_m.map(|m| m.ap2),
            Selection::LastEpoch => None,
        };
        let is_best = match (metric, progress.best_metric) {
            (Some(m), Some(b)) => m > b,
            (Some(m), None) => !m.is_nan(),
            _ => false,
        };
        let record = EpochRecord {
            epoch,
            lr,
            steps,
            loss: mean(0),
            loss1: mean(1),
            loss2: mean(2),
            loss3: mean(3),
            loss4: teacher.map(|_| progress.ukd_sum / steps as f64),
            val: val_m.as_ref().map(metrics_json),
            test: test_m.as_ref().map(metrics_json),
            selection_metric: metric,
            is_best,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            "epoch {}/{}: lr {lr:.1e} loss {:.4} (l1 {:.4} l2 {:.4} l3 {:.4}{}){}{}{}",
            epoch + 1,
            cfg.epochs,
            record.loss,
            record.loss1,
            record.loss2,
            record.loss3,
            record
                .loss4
                .map(|u| format!(" raw UKD {u:.4}"))
                .unwrap_or_default(),
            val_m
                .map(|m| format!(
                    " | val video AP1 {:.4} AUC1 {:.4} AP2 {:.4} AUC2 {:.4}",
                    m.ap1, m.auc1, m.ap2, m.auc2
                ))
                .unwrap_or_default(),
            test_m
                .map(|m| format!(
                    " | test frame AP1 {:.4} AUC1 {:.4} AP2 {:.4} AUC2 {:.4}",
                    m.ap1, m.auc1, m.ap2, m.auc2
                ))
                .unwrap_or_default(),
            if is_best { " [best]" } else { "" }
        );
        progress.history.push(record);
        progress.epoch = epoch + 1;
        progress.step_in_epoch = 0;
        progress.epoch_sums = [0.0; 4];
        progress.ukd_sum = 0.0;
        let model_sd = model.to_state_dict();
        if is_best {
            progress.best_metric = metric;
            progress.best_epoch = Some(epoch);
            writer.save_best(&model_sd, &progress, epoch)?;
        } else if cfg.reload_best && progress.best_epoch.is_some() {
            // Official loop: continue from the best weights (optimiser state kept).
            let ck = Checkpoint::open(&out.join("best.json"))?;
            let (best, _) =
                AvadClip::<B>::from_state_dict(&cfg.model, &ck.load_weights()?, device)?;
            model = best.freeze_clip();
            tracing::info!(
                "reloaded the best weights (epoch {})",
                progress.best_epoch.unwrap_or(0) + 1
            );
        }
        if epoch + 1 == cfg.epochs {
            progress.finished = true;
        }
        let model_sd = if cfg.reload_best && !is_best {
            model.to_state_dict()
        } else {
            model_sd
        };
        writer.save_last(&model_sd, &opt, &progress)?;
        writer.write_history(&progress)?;
        if opts.stop_after_steps == Some(progress.global_step) && !progress.finished {
            return Err(TrainError::Stopped {
                steps: progress.global_step,
            });
        }
    }
    progress.finished = true;
    let steps_run = progress.global_step - first_step;
    finish(out, &writer, progress, resumed, steps_run)
}

/// Writes `OUT/model.json`: the best checkpoint under a selection rule, else the last one.
fn finish(
    out: &Path,
    writer: &Writer<'_>,
    progress: Progress,
    resumed: bool,
    steps_run: u64,
) -> Result<TrainSummary> {
    let src = if writer.cfg.selection != Selection::LastEpoch && out.join("best.json").is_file() {
        out.join("best.json")
    } else {
        out.join("last.json")
    };
    let mut meta = CheckpointMeta::read(&src)?;
    meta.optimizer = None;
    meta.progress = Some(progress.clone());
    let model_json = out.join("model.json");
    meta.write(&model_json)?;
    tracing::info!(
        "final model: {} (from {})",
        model_json.display(),
        src.display()
    );
    Ok(TrainSummary {
        model_json,
        progress,
        resumed,
        steps_run,
    })
}

fn adamw_config(cfg: &TrainConfig) -> AdamWConfig {
    AdamWConfig {
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
    }
}
