//! The start of a run: a fresh model and optimiser, or the model, optimiser state, configuration and progress
//! restored from `OUT/last.json`.
//!
//! A resumed run takes exactly the steps of an uninterrupted one: the shuffles depend only on `(seed, epoch)` and
//! the trainer re-seeds the backend from `(seed, global step)` before every step.

use std::path::Path;

use avad_model::AvadClip;
use burn::tensor::backend::AutodiffBackend;

use crate::build::{build_model, ClipSource};
use crate::checkpoint::{Progress, TrainCheckpoint};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::optim::AdamW;

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

/// What a run continues from.
pub(crate) struct RunState<B: AutodiffBackend> {
    /// The model (CLIP text tower frozen).
    pub(crate) model: AvadClip<B>,
    /// The configuration in force: the checkpoint's on resume (with `epochs` from the caller), else the caller's
    /// with the text shape of the loaded CLIP weights.
    pub(crate) cfg: TrainConfig,
    /// The optimiser with its state.
    pub(crate) optimizer: AdamW<B::InnerBackend>,
    /// Where the run stands.
    pub(crate) progress: Progress,
    /// True when restored from `last.json`.
    pub(crate) resumed: bool,
}

/// Restores the run in `out` from `out/last.json`, or starts a fresh one, as `mode` says.
pub(crate) fn start_or_resume<B: AutodiffBackend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    out: &Path,
    mode: ResumeMode,
    device: &B::Device,
) -> Result<RunState<B>> {
    let last_json = out.join("last.json");
    if last_json.is_file() && mode != ResumeMode::Never {
        return resume(cfg, &last_json, device);
    }
    if mode == ResumeMode::Require {
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
    let optimizer = AdamW::new(cfg.adamw());
    Ok(RunState {
        model,
        cfg,
        optimizer,
        progress: Progress::default(),
        resumed: false,
    })
}

/// Restores model, optimiser state, configuration and progress from `last_json`. The stored configuration is used;
/// only `epochs` follows `cfg` (other differences are logged).
fn resume<B: AutodiffBackend>(
    cfg: &TrainConfig,
    last_json: &Path,
    device: &B::Device,
) -> Result<RunState<B>> {
    let ck = TrainCheckpoint::open(last_json)?;
    let mut saved = ck.meta.train_config.clone().ok_or_else(|| {
        TrainError::ckpt(last_json, "no train_config (not a training checkpoint)")
    })?;
    if cfg.epochs != saved.epochs {
        tracing::info!("resume: epochs {} → {}", saved.epochs, cfg.epochs);
        saved.epochs = cfg.epochs;
    }
    let mut probe = cfg.clone();
    probe.epochs = saved.epochs;
    probe.model.clip_text = saved.model.clip_text.clone();
    if probe != saved {
        tracing::warn!(
            "resume: the given settings differ from the checkpoint's; continuing with the checkpoint's"
        );
    }
    let weights = ck.load_weights()?;
    let (model, _) = AvadClip::<B>::from_weights(&saved.model, &weights, device)?;
    let mut optimizer = AdamW::<B::InnerBackend>::new(saved.adamw());
    if let Some(sd) = ck.load_optimizer()? {
        optimizer.load_state(&sd, device)?;
    }
    let progress = ck.meta.progress.clone().unwrap_or_default();
    tracing::info!(
        "resuming {} at epoch {} step {} (global step {})",
        last_json.display(),
        progress.epoch,
        progress.step_in_epoch,
        progress.global_step
    );
    Ok(RunState {
        model: model.freeze_clip(),
        cfg: saved,
        optimizer,
        progress,
        resumed: true,
    })
}
