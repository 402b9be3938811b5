//! avad checkpoints: safetensors weights with the official PyTorch key names, a JSON file describing them (model
//! config, train config, class names, progress) and, for resumable checkpoints, the AdamW state.
//!
//! Layout of a training output folder:
//!
//! ```text
//! OUT/last.json                     resumable checkpoint (written every `save_every_steps` steps and each epoch)
//! OUT/best.json                     best checkpoint so far under the selection rule
//! OUT/model.json                    the final model of a finished run (= best, or last for `last-epoch`)
//! OUT/weights/model-s<step>.safetensors, OUT/weights/optim-s<step>.safetensors
//! OUT/history.jsonl                 one JSON line per finished epoch (losses, metrics of both branches)
//! ```
//!
//! Every file is written atomically (temporary file + rename); a JSON file is written only after the files it
//! names, so a killed run always leaves a complete, consistent `last.json`. Weight files that no JSON names any
//! more are deleted afterwards. `avad import` writes the same JSON + safetensors pair without optimiser state.

use std::path::{Path, PathBuf};

use avad_model::{ModelConfig, StateDict};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};

/// Value of [`CheckpointMeta::format`].
pub const CHECKPOINT_FORMAT: &str = "avad-checkpoint";
/// Current checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

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
    /// Sums of (total, loss1, loss2, loss3) over the steps of the epoch in progress (for its mean after resume).
    #[serde(default)]
    pub epoch_sums: [f64; 4],
    /// Sum of the raw UKD loss4 over the steps of the epoch in progress (distillation only).
    #[serde(default)]
    pub ukd_sum: f64,
}

/// The JSON half of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// Model architecture.
    pub model_config: ModelConfig,
    /// Class names in label-map order (column order of the predictions; index 0 = normal).
    pub class_names: Vec<String>,
    /// Weights file, relative to the JSON file's folder.
    pub weights: String,
    /// Optimiser state file (resumable checkpoints only), relative to the JSON file's folder.
    pub optimizer: Option<String>,
    /// Separate file holding the frozen `clipmodel.*` tensors (training runs write it once and share it between
    /// checkpoints); `None` when `weights` holds them.
    #[serde(default)]
    pub clip_weights: Option<String>,
    /// The training configuration (absent for imported checkpoints).
    pub train_config: Option<TrainConfig>,
    /// Training progress (absent for imported checkpoints).
    pub progress: Option<Progress>,
    /// Where the weights came from (e.g. the imported `.pth`), free text.
    pub source: Option<String>,
}

impl CheckpointMeta {
    /// A description of `weights` with no training state.
    pub fn new(
        model_config: ModelConfig,
        class_names: Vec<String>,
        weights: impl Into<String>,
    ) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            model_config,
            class_names,
            weights: weights.into(),
            optimizer: None,
            clip_weights: None,
            train_config: None,
            progress: None,
            source: None,
        }
    }

    /// Reads and checks a checkpoint JSON file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let meta: CheckpointMeta = serde_json::from_str(&text)
            .map_err(|e| TrainError::ckpt(path, format!("invalid JSON: {e}")))?;
        if meta.format != CHECKPOINT_FORMAT {
            return Err(TrainError::ckpt(
                path,
                format!("format is `{}`, not `{CHECKPOINT_FORMAT}`", meta.format),
            ));
        }
        if meta.version > CHECKPOINT_VERSION {
            return Err(TrainError::ckpt(
                path,
                format!(
                    "version {} is newer than this avad ({CHECKPOINT_VERSION})",
                    meta.version
                ),
            ));
        }
        Ok(meta)
    }

    /// Writes the JSON atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::ckpt(path, e.to_string()))?;
        Ok(avad_core::npy::write_atomic(path, text.as_bytes())?)
    }
}

/// A checkpoint JSON file and its folder, with loaders for the files it names.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The JSON file.
    pub path: PathBuf,
    /// Its content.
    pub meta: CheckpointMeta,
}

impl Checkpoint {
    /// Opens a checkpoint: a JSON file, or a folder holding `model.json`, else `best.json`, else `last.json`.
    pub fn open(path: &Path) -> Result<Self> {
        let json = if path.is_dir() {
            ["model.json", "best.json", "last.json"]
                .iter()
                .map(|n| path.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    TrainError::ckpt(path, "folder has no model.json, best.json or last.json")
                })?
        } else if path.is_file() {
            path.to_path_buf()
        } else {
            return Err(TrainError::ckpt(path, "no such checkpoint file or folder"));
        };
        let meta = CheckpointMeta::read(&json)?;
        Ok(Self { path: json, meta })
    }

    fn resolve(&self, rel: &str) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(rel)
    }

    /// The model weights (official key names), merged with the shared CLIP file when there is one.
    pub fn load_weights(&self) -> Result<StateDict> {
        let load = |rel: &str| {
            let p = self.resolve(rel);
            if !p.is_file() {
                return Err(TrainError::ckpt(
                    &self.path,
                    format!("weights file {} is missing", p.display()),
                ));
            }
            Ok(StateDict::load_safetensors(&p)?)
        };
        let mut sd = load(&self.meta.weights)?;
        if let Some(rel) = &self.meta.clip_weights {
            sd.extend(load(rel)?);
        }
        Ok(sd)
    }

    /// The optimiser state, if the checkpoint has one.
    pub fn load_optimizer(&self) -> Result<Option<StateDict>> {
        match &self.meta.optimizer {
            None => Ok(None),
            Some(rel) => {
                let p = self.resolve(rel);
                if !p.is_file() {
                    return Err(TrainError::ckpt(
                        &self.path,
                        format!("optimizer file {} is missing", p.display()),
                    ));
                }
                Ok(Some(StateDict::load_safetensors(&p)?))
            }
        }
    }
}

/// Writes a standalone checkpoint (`DIR/model.safetensors` + `DIR/model.json`), e.g. for `avad import`.
pub fn write_model_checkpoint(
    dir: &Path,
    mut meta: CheckpointMeta,
    weights: &StateDict,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    weights.save_safetensors(dir.join("model.safetensors"))?;
    meta.weights = "model.safetensors".into();
    let json = dir.join("model.json");
    meta.write(&json)?;
    Ok(json)
}

/// Deletes files under `OUT/weights/` that none of `OUT/{last,best,model}.json` names (best effort).
pub fn collect_garbage(out: &Path) {
    let mut keep = std::collections::BTreeSet::new();
    for name in ["last.json", "best.json", "model.json"] {
        if let Ok(m) = CheckpointMeta::read(&out.join(name)) {
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
    use burn::tensor::TensorData;

    #[test]
    fn meta_round_trip_and_open_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut sd = StateDict::new();
        sd.insert("alpha", TensorData::new(vec![0.25f32; 7], [7]));
        let meta = CheckpointMeta::new(ModelConfig::vadclip_xd(), vec!["normal".into(); 7], "x");
        let json = write_model_checkpoint(dir.path(), meta.clone(), &sd).unwrap();
        assert!(json.ends_with("model.json"));
        let ck = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(ck.meta.model_config, meta.model_config);
        assert_eq!(ck.meta.weights, "model.safetensors");
        assert_eq!(
            ck.load_weights()
                .unwrap()
                .get("alpha")
                .unwrap()
                .shape
                .to_vec(),
            vec![7]
        );
        assert!(ck.load_optimizer().unwrap().is_none());
        // A wrong format string is refused with the file named.
        std::fs::write(
            dir.path().join("bad.json"),
            serde_json::to_string(&CheckpointMeta {
                format: "x".into(),
                ..meta
            })
            .unwrap(),
        )
        .unwrap();
        let e = Checkpoint::open(&dir.path().join("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json") && e.contains("format"), "{e}");
        assert!(Checkpoint::open(&dir.path().join("nothing")).is_err());
    }
}
