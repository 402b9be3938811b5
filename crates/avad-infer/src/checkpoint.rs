//! The avad checkpoint format: safetensors weights with the official PyTorch key names and a JSON file describing
//! them ([`CheckpointMeta`]: model config, class names, the weight files, provenance and, for checkpoints written
//! by training, the training configuration and progress).
//!
//! A checkpoint is a JSON file plus the files it names, relative to its folder: `weights` (the model tensors),
//! optionally `clip_weights` (the frozen `clipmodel.*` tensors, which training writes once and shares between its
//! checkpoints) and, for resumable training checkpoints, `optimizer` (the AdamW state). Every file is written
//! atomically (temporary file + rename), and a JSON file only after the files it names.
//!
//! The training-only parts of the JSON — `train_config` and `progress` — have types that belong to the trainer
//! (avad-train's `TrainConfig` and `Progress`). [`CheckpointMeta`] and [`Checkpoint`] take them as type parameters
//! that default to plain JSON values: inference reads any checkpoint without knowing the trainer's types, and learns
//! the one thing it needs from the training configuration through [`CheckpointMeta::student_input`]. The file format
//! is the same whichever types read or write it.

use std::path::{Path, PathBuf};

use avad_model::ModelConfig;
use avad_nn::WeightMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{InferError, Result};
use crate::inputs::StudentInput;
use crate::json::{read_json, write_json};

/// Value of [`CheckpointMeta::format`].
pub const CHECKPOINT_FORMAT: &str = "avad-checkpoint";
/// Current checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The JSON half of a checkpoint; `C` and `P` are the types of the training configuration and progress (JSON
/// values unless the trainer reads or writes them, see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta<C = serde_json::Value, P = serde_json::Value> {
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
    pub train_config: Option<C>,
    /// Training progress (absent for imported checkpoints).
    pub progress: Option<P>,
    /// Where the weights came from (e.g. the imported `.pth`), free text.
    pub source: Option<String>,
}

impl<C, P> CheckpointMeta<C, P> {
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
}

impl<C: DeserializeOwned, P: DeserializeOwned> CheckpointMeta<C, P> {
    /// Reads and checks a checkpoint JSON file.
    pub fn read(path: &Path) -> Result<Self> {
        let meta: Self = read_json(path, "invalid JSON")?;
        if meta.format != CHECKPOINT_FORMAT {
            return Err(InferError::ckpt(
                path,
                format!("format is `{}`, not `{CHECKPOINT_FORMAT}`", meta.format),
            ));
        }
        if meta.version > CHECKPOINT_VERSION {
            return Err(InferError::ckpt(
                path,
                format!(
                    "version {} is newer than this avad ({CHECKPOINT_VERSION})",
                    meta.version
                ),
            ));
        }
        Ok(meta)
    }
}

impl<C: Serialize, P: Serialize> CheckpointMeta<C, P> {
    /// Writes the JSON atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

impl<P> CheckpointMeta<serde_json::Value, P> {
    /// Which features the model reads in its visual slot: the training configuration's `modality` (visual when
    /// the checkpoint has no training configuration or does not say).
    pub fn student_input(&self) -> StudentInput {
        self.train_config
            .as_ref()
            .and_then(|c| c.get("modality"))
            .and_then(|m| StudentInput::deserialize(m).ok())
            .unwrap_or_default()
    }
}

/// A checkpoint JSON file and its folder, with loaders for the files it names. Annotate the type to read the
/// training parts as JSON values (`let ck: Checkpoint = Checkpoint::open(path)?`).
#[derive(Debug, Clone)]
pub struct Checkpoint<C = serde_json::Value, P = serde_json::Value> {
    /// The JSON file.
    pub path: PathBuf,
    /// Its content.
    pub meta: CheckpointMeta<C, P>,
}

impl<C: DeserializeOwned, P: DeserializeOwned> Checkpoint<C, P> {
    /// Opens a checkpoint: a JSON file, or a folder holding `model.json`, else `best.json`, else `last.json`.
    pub fn open(path: &Path) -> Result<Self> {
        let json = if path.is_dir() {
            ["model.json", "best.json", "last.json"]
                .iter()
                .map(|n| path.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    InferError::ckpt(path, "folder has no model.json, best.json or last.json")
                })?
        } else if path.is_file() {
            path.to_path_buf()
        } else {
            return Err(InferError::ckpt(path, "no such checkpoint file or folder"));
        };
        let meta = CheckpointMeta::read(&json)?;
        Ok(Self { path: json, meta })
    }
}

impl<C, P> Checkpoint<C, P> {
    /// A file named by the JSON: `rel` resolved against the JSON file's folder.
    fn resolve(&self, rel: &str) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(rel)
    }

    /// Loads the safetensors file `rel` names; `what` says which one in the error when it is missing.
    fn load_file(&self, rel: &str, what: &str) -> Result<WeightMap> {
        let p = self.resolve(rel);
        if !p.is_file() {
            return Err(InferError::ckpt(
                &self.path,
                format!("{what} file {} is missing", p.display()),
            ));
        }
        Ok(WeightMap::load_safetensors(&p)?)
    }

    /// The model weights (official key names), merged with the shared CLIP file when there is one.
    pub fn load_weights(&self) -> Result<WeightMap> {
        let mut sd = self.load_file(&self.meta.weights, "weights")?;
        if let Some(rel) = &self.meta.clip_weights {
            sd.extend(self.load_file(rel, "weights")?);
        }
        Ok(sd)
    }

    /// The optimiser state, if the checkpoint has one.
    pub fn load_optimizer(&self) -> Result<Option<WeightMap>> {
        self.meta
            .optimizer
            .as_deref()
            .map(|rel| self.load_file(rel, "optimizer"))
            .transpose()
    }
}

/// Writes a standalone checkpoint (`DIR/model.safetensors` + `DIR/model.json`, e.g. for `avad import`); returns the
/// JSON path.
pub fn write_model_checkpoint<C: Serialize, P: Serialize>(
    dir: &Path,
    mut meta: CheckpointMeta<C, P>,
    weights: &WeightMap,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| InferError::io(dir, e))?;
    weights.save_safetensors(dir.join("model.safetensors"))?;
    meta.weights = "model.safetensors".into();
    let json = dir.join("model.json");
    meta.write(&json)?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn meta_round_trip_and_open_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut sd = WeightMap::new();
        sd.insert("alpha", TensorData::new(vec![0.25f32; 7], [7]));
        let meta: CheckpointMeta =
            CheckpointMeta::new(ModelConfig::vadclip_xd(), vec!["normal".into(); 7], "x");
        let json = write_model_checkpoint(dir.path(), meta.clone(), &sd).unwrap();
        assert!(json.ends_with("model.json"));
        let ck: Checkpoint = Checkpoint::open(dir.path()).unwrap();
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
        assert_eq!(ck.meta.student_input(), StudentInput::Visual);
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
        let e = Checkpoint::<serde_json::Value>::open(&dir.path().join("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json") && e.contains("format"), "{e}");
        assert!(Checkpoint::<serde_json::Value>::open(&dir.path().join("nothing")).is_err());
    }

    #[test]
    fn student_input_comes_from_the_training_configuration() {
        let mut meta: CheckpointMeta =
            CheckpointMeta::new(ModelConfig::avadclip_student_xd(), vec![], "x");
        meta.train_config = Some(serde_json::json!({"modality": "audio", "seed": 1}));
        assert_eq!(meta.student_input(), StudentInput::Audio);
        meta.train_config = Some(serde_json::json!({"seed": 1}));
        assert_eq!(meta.student_input(), StudentInput::Visual);
    }
}
