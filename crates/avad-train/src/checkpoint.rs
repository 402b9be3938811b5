//! Training checkpoints: the training side of the avad checkpoint format ([`avad_infer::checkpoint`]) — the typed
//! training configuration and [`Progress`] of [`TrainCheckpoint`] — and the writer of a training output folder.
//!
//! Layout of a training output folder:
//!
//! ```text
//! OUT/last.json                     resumable checkpoint (written every `save_every_steps` steps and each epoch)
//! OUT/best.json                     best checkpoint so far under the selection rule
//! OUT/model.json                    the final model of a finished run (= best, or last for `last-epoch`)
//! OUT/weights/model-s<step>.safetensors, OUT/weights/optim-s<step>.safetensors
//! OUT/weights/clip_text.safetensors the frozen CLIP text tower, written once and shared by every checkpoint
//! OUT/history.jsonl                 one JSON line per finished epoch (losses, metrics of both branches)
//! OUT/config.toml                   the run's resolved configuration
//! ```
//!
//! Every file is written atomically (temporary file + rename); a JSON file is written only after the files it
//! names, so a killed run always leaves a complete, consistent `last.json`. Weight files that no JSON names any
//! more are deleted afterwards.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use avad_infer::{Checkpoint, CheckpointMeta};
use avad_model::text_tower::CLIP_PREFIX;
use avad_nn::WeightMap;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Selection, TrainConfig};
use crate::error::{Result, TrainError};
use crate::optim::AdamW;
use crate::step::StepLosses;

/// The JSON half of a training checkpoint: training configuration and progress typed.
pub type TrainCheckpointMeta = CheckpointMeta<TrainConfig, Progress>;
/// A training checkpoint (`last.json`, `best.json`, `model.json` of a training folder) with its typed training
/// parts.
pub type TrainCheckpoint = Checkpoint<TrainConfig, Progress>;

/// Metrics of one finished epoch, as logged to `history.jsonl` and kept in the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch index.
    pub epoch: usize,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Steps taken in the epoch.
    pub steps: usize,
    /// Mean total loss over the epoch's steps.
    pub loss: f64,
    /// Mean loss1 (C-branch MIL BCE).
    pub loss1: f64,
    /// Mean loss2 (A-branch MIL-Align, with focal for the teacher).
    pub loss2: f64,
    /// Mean loss3 (text divergence).
    pub loss3: f64,
    /// Mean raw (unweighted) UKD loss4 of a distilled student; absent for other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss4: Option<f64>,
    /// Metrics on the validation split (if any), keyed like `ap1`, `auc1`, `ap2`, `auc2` (see `eval.rs`).
    pub val: Option<serde_json::Value>,
    /// Metrics on the test list (if given with annotations).
    pub test: Option<serde_json::Value>,
    /// The selection metric of this epoch (if selection is on).
    pub selection_metric: Option<f64>,
    /// Whether this epoch became the best checkpoint.
    pub is_best: bool,
    /// Wall-clock seconds of the epoch (training + evaluation).
    pub seconds: f64,
}

/// The total loss and loss1–loss3, summed or averaged over steps; stored in checkpoints as the array
/// `[total, loss1, loss2, loss3]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 4]", into = "[f64; 4]")]
pub struct LossValues {
    /// The weighted total.
    pub total: f64,
    /// C-branch MIL BCE.
    pub loss1: f64,
    /// A-branch MIL-Align (with focal for the teacher).
    pub loss2: f64,
    /// Text divergence.
    pub loss3: f64,
}

impl From<[f64; 4]> for LossValues {
    fn from([total, loss1, loss2, loss3]: [f64; 4]) -> Self {
        Self {
            total,
            loss1,
            loss2,
            loss3,
        }
    }
}

impl From<LossValues> for [f64; 4] {
    fn from(v: LossValues) -> Self {
        [v.total, v.loss1, v.loss2, v.loss3]
    }
}

impl LossValues {
    /// Each value divided by `steps` (the mean of sums over `steps` steps).
    pub fn mean_over(self, steps: usize) -> Self {
        let n = steps as f64;
        Self {
            total: self.total / n,
            loss1: self.loss1 / n,
            loss2: self.loss2 / n,
            loss3: self.loss3 / n,
        }
    }
}

/// Where a training run stands (stored in resumable checkpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch in progress (or the next one when `step_in_epoch == 0`).
    pub epoch: usize,
    /// Steps of `epoch` already taken.
    pub step_in_epoch: usize,
    /// Optimiser steps taken since the start of the run.
    pub global_step: u64,
    /// Best selection metric so far.
    pub best_metric: Option<f64>,
    /// Epoch that produced the best metric.
    pub best_epoch: Option<usize>,
    /// True once every epoch is done.
    pub finished: bool,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
    /// Sums of the losses over the steps of the epoch in progress (for its means after resume).
    #[serde(default)]
    pub epoch_sums: LossValues,
    /// Sum of the raw UKD loss4 over the steps of the epoch in progress (distillation only).
    #[serde(default)]
    pub ukd_sum: f64,
}

impl Progress {
    /// Counts step `step` (0-based) of `epoch`, which gave `losses`.
    pub fn record_step(&mut self, epoch: usize, step: usize, losses: &StepLosses) {
        self.epoch_sums.total += losses.total;
        self.epoch_sums.loss1 += losses.loss1;
        self.epoch_sums.loss2 += losses.loss2;
        self.epoch_sums.loss3 += losses.loss3;
        self.ukd_sum += losses.loss4.unwrap_or(0.0);
        self.global_step += 1;
        self.step_in_epoch = step + 1;
        self.epoch = epoch;
    }

    /// Closes the epoch `record` describes: appends the record and clears the sums of the epoch in progress.
    pub fn close_epoch(&mut self, record: EpochRecord) {
        self.epoch = record.epoch + 1;
        self.history.push(record);
        self.step_in_epoch = 0;
        self.epoch_sums = LossValues::default();
        self.ukd_sum = 0.0;
    }
}

/// Writes the checkpoints, history and configuration of one training run into its output folder.
pub(crate) struct RunWriter<'a> {
    /// The output folder.
    out: &'a Path,
    /// Class names of the run's label map.
    pub(crate) class_names: Vec<String>,
    /// The run's configuration, stored in every checkpoint.
    cfg: &'a TrainConfig,
    /// Free-text provenance stored in every checkpoint (the teacher of a distilled student).
    source: Option<String>,
    /// Whether the shared CLIP file still has to be (re)written by this process (fresh runs rewrite it).
    clip_pending: Cell<bool>,
}

impl<'a> RunWriter<'a> {
    /// A writer into `out` for a run of `cfg`; `fresh` runs rewrite the shared CLIP file once.
    pub(crate) fn new(
        out: &'a Path,
        cfg: &'a TrainConfig,
        class_names: Vec<String>,
        source: Option<String>,
        fresh: bool,
    ) -> Self {
        Self {
            out,
            class_names,
            cfg,
            source,
            clip_pending: Cell::new(fresh),
        }
    }

    /// The checkpoint JSON for the model weights `weights` (relative path).
    fn meta(&self, weights: String) -> TrainCheckpointMeta {
        let mut m =
            TrainCheckpointMeta::new(self.cfg.model.clone(), self.class_names.clone(), weights);
        m.train_config = Some(self.cfg.clone());
        m.source = self.source.clone();
        m
    }

    /// Writes `sd` to `weights/<name>.safetensors`; returns that relative path.
    fn save_weights(&self, sd: &WeightMap, name: &str) -> Result<String> {
        let rel = format!("weights/{name}.safetensors");
        sd.save_safetensors(self.out.join(&rel))?;
        Ok(rel)
    }

    /// Writes the trainable tensors to `weights/<name>.safetensors` and the frozen `clipmodel.*` ones once to
    /// `weights/clip_text.safetensors` (shared by every checkpoint of the run); returns the meta naming both.
    fn save_model(&self, sd: &WeightMap, name: &str) -> Result<TrainCheckpointMeta> {
        let mut own = WeightMap::new();
        let mut clip = WeightMap::new();
        for (k, v) in sd.iter() {
            if k.starts_with(CLIP_PREFIX) {
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

    /// Writes `config.toml`, the run's resolved configuration.
    pub(crate) fn save_config(&self) -> Result<()> {
        let text = self.cfg.to_toml()?;
        Ok(avad_core::files::write_atomic(
            &self.out.join("config.toml"),
            text.as_bytes(),
        )?)
    }

    /// Writes the resumable `last.json` (weights + optimiser state + progress).
    pub(crate) fn save_last<B: Backend>(
        &self,
        model_sd: &WeightMap,
        opt: &AdamW<B>,
        progress: &Progress,
    ) -> Result<()> {
        let tag = format!("s{:08}-e{:03}", progress.global_step, progress.epoch);
        let mut meta = self.save_model(model_sd, &format!("model-{tag}"))?;
        meta.optimizer = Some(self.save_weights(&opt.save_state(), &format!("optim-{tag}"))?);
        meta.progress = Some(progress.clone());
        meta.write(&self.out.join("last.json"))?;
        collect_garbage(self.out);
        Ok(())
    }

    /// Writes `best.json`, the best model so far (found at `epoch`).
    pub(crate) fn save_best(
        &self,
        model_sd: &WeightMap,
        progress: &Progress,
        epoch: usize,
    ) -> Result<()> {
        let mut meta = self.save_model(model_sd, &format!("best-e{epoch:03}"))?;
        meta.progress = Some(progress.clone());
        meta.write(&self.out.join("best.json"))?;
        collect_garbage(self.out);
        Ok(())
    }

    /// Rewrites `history.jsonl`, one line per finished epoch.
    pub(crate) fn save_history(&self, progress: &Progress) -> Result<()> {
        let mut text = String::new();
        for r in &progress.history {
            text.push_str(&serde_json::to_string(r).map_err(|e| TrainError::Data(e.to_string()))?);
            text.push('\n');
        }
        Ok(avad_core::files::write_atomic(
            &self.out.join("history.jsonl"),
            text.as_bytes(),
        )?)
    }

    /// Writes `model.json`, the final model: the best checkpoint under a selection rule, else the last one, with
    /// the final `progress` and no optimiser state. Returns its path.
    pub(crate) fn save_final(&self, progress: &Progress) -> Result<PathBuf> {
        let out = self.out;
        let src = if self.cfg.selection != Selection::LastEpoch && out.join("best.json").is_file() {
            out.join("best.json")
        } else {
            out.join("last.json")
        };
        let mut meta = TrainCheckpointMeta::read(&src)?;
        meta.optimizer = None;
        meta.progress = Some(progress.clone());
        let model_json = out.join("model.json");
        meta.write(&model_json)?;
        tracing::info!(
            "final model: {} (from {})",
            model_json.display(),
            src.display()
        );
        Ok(model_json)
    }
}

/// Deletes files under `OUT/weights/` that none of `OUT/{last,best,model}.json` names (best effort).
pub fn collect_garbage(out: &Path) {
    let mut keep = std::collections::BTreeSet::new();
    for name in ["last.json", "best.json", "model.json"] {
        if let Ok(m) = CheckpointMeta::<serde_json::Value>::read(&out.join(name)) {
            keep.insert(out.join(&m.weights));
            for o in m.optimizer.iter().chain(&m.clip_weights) {
                keep.insert(out.join(o));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(out.join("weights")) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) == Some("safetensors") && !keep.contains(&p) {
            if let Err(err) = std::fs::remove_file(&p) {
                tracing::warn!("cannot delete stale checkpoint file {}: {err}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_sums_are_stored_as_an_array() {
        let p = Progress {
            epoch_sums: LossValues {
                total: 4.0,
                loss1: 1.0,
                loss2: 2.0,
                loss3: 3.0,
            },
            ..Progress::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["epoch_sums"], serde_json::json!([4.0, 1.0, 2.0, 3.0]));
        let back: Progress = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.epoch_sums.mean_over(2).loss2, 1.0);
    }
}
