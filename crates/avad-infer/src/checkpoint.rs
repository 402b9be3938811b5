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
use crate::json::{parse_json, read_json_bytes, write_json};

/// Value of [`CheckpointMeta::format`].
pub const CHECKPOINT_FORMAT: &str = "avad-checkpoint";
/// Current checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Caps on the model configuration a checkpoint (or a training configuration) may declare, checked before any
/// model is built from it: far above every official and synthetic model (widths 32–512, 1–12 layers, T = 256),
/// low enough that no declared size can ask for an absurd allocation.
pub mod limits {
    pub use crate::json::MAX_JSON_BYTES;
    /// Widths: `embed_dim`, `visual_width`, `clip_text.hidden_size`, the audio TCN's widths.
    pub const MAX_WIDTH: usize = 8192;
    /// `clip_text.intermediate_size` (OpenAI CLIP: 4 × width).
    pub const MAX_INTERMEDIATE: usize = 4 * MAX_WIDTH;
    /// Transformer blocks (`visual_layers`, `clip_text.num_hidden_layers`) and TCN levels.
    pub const MAX_LAYERS: usize = 64;
    /// Attention heads.
    pub const MAX_HEADS: usize = 1024;
    /// Padded snippet count T (`visual_length`; official 256): the attention mask is T × T.
    pub const MAX_VISUAL_LENGTH: usize = 4096;
    /// Classes (`num_class`).
    pub const MAX_CLASSES: usize = 1024;
    /// CLIP context (`clip_text.max_position_embeddings`, 77) and the prompt rows.
    pub const MAX_CONTEXT: usize = 1024;
    /// CLIP vocabulary (`clip_text.vocab_size`, 49408).
    pub const MAX_VOCAB: usize = 1 << 20;
    /// TCN kernel size (official 2).
    pub const MAX_KERNEL: usize = 64;
}

/// Checks the old spelling `clip_text.width` of a raw configuration before it is deserialised (deserialising sets
/// `intermediate_size = 4 × width`).
pub fn check_old_text_width(width: Option<u64>) -> std::result::Result<(), String> {
    match width {
        Some(w) if w > limits::MAX_WIDTH as u64 => Err(format!(
            "model_config.clip_text.width = {w} exceeds the cap of {}",
            limits::MAX_WIDTH
        )),
        _ => Ok(()),
    }
}

/// Checks a model configuration against [`limits`] (the error names the field), then its own consistency rules
/// (`ModelConfig::validate`).
pub fn check_model_config(cfg: &ModelConfig) -> std::result::Result<(), String> {
    use limits::*;
    let t = &cfg.clip_text;
    let mut fields: Vec<(&str, usize, usize)> = vec![
        ("num_class", cfg.num_class, MAX_CLASSES),
        ("embed_dim", cfg.embed_dim, MAX_WIDTH),
        ("visual_length", cfg.visual_length, MAX_VISUAL_LENGTH),
        ("visual_width", cfg.visual_width, MAX_WIDTH),
        ("visual_head", cfg.visual_head, MAX_HEADS),
        ("visual_layers", cfg.visual_layers, MAX_LAYERS),
        ("attn_window", cfg.attn_window, MAX_VISUAL_LENGTH),
        ("prompt_prefix", cfg.prompt_prefix, MAX_CONTEXT),
        ("prompt_postfix", cfg.prompt_postfix, MAX_CONTEXT),
        ("clip_text.vocab_size", t.vocab_size, MAX_VOCAB),
        ("clip_text.hidden_size", t.hidden_size, MAX_WIDTH),
        (
            "clip_text.intermediate_size",
            t.intermediate_size,
            MAX_INTERMEDIATE,
        ),
        (
            "clip_text.num_hidden_layers",
            t.num_hidden_layers,
            MAX_LAYERS,
        ),
        (
            "clip_text.num_attention_heads",
            t.num_attention_heads,
            MAX_HEADS,
        ),
        (
            "clip_text.max_position_embeddings",
            t.max_position_embeddings,
            MAX_CONTEXT,
        ),
    ];
    if let Some(a) = &cfg.audio {
        fields.push(("audio.input_width", a.input_width, MAX_WIDTH));
        fields.push(("audio.channels (levels)", a.channels.len(), MAX_LAYERS));
        fields.push(("audio.kernel_size", a.kernel_size, MAX_KERNEL));
        for &c in &a.channels {
            fields.push(("audio.channels", c, MAX_WIDTH));
        }
    }
    for (name, value, cap) in fields {
        if value > cap {
            return Err(format!(
                "model_config.{name} = {value} exceeds the cap of {cap}"
            ));
        }
    }
    if !t.layer_norm_eps.is_finite() {
        return Err("model_config.clip_text.layer_norm_eps is not finite".into());
    }
    if let Some(a) = &cfg.audio {
        if !(0.0..1.0).contains(&a.dropout) {
            return Err(format!(
                "model_config.audio.dropout = {} is outside [0, 1)",
                a.dropout
            ));
        }
    }
    cfg.validate().map_err(|e| format!("model_config: {e}"))
}

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
        let bytes = read_json_bytes(path)?;
        Self::parse(&bytes, path)
    }

    /// Parses and checks the bytes of a checkpoint JSON file; `path` names it in errors (the entry point of
    /// [`CheckpointMeta::read`] and of the fuzz target `checkpoint_json`). Checks the format, the version and the
    /// model configuration ([`check_model_config`]).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        // The old spelling `clip_text.width` sets the MLP to 4 × width while deserialising: check it first.
        if let Ok(v) = parse_json::<serde_json::Value>(bytes, path, "invalid JSON") {
            let width = v
                .pointer("/model_config/clip_text/width")
                .and_then(serde_json::Value::as_u64);
            check_old_text_width(width).map_err(|m| InferError::ckpt(path, m))?;
        }
        let meta: Self = parse_json(bytes, path, "invalid JSON")?;
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
        check_model_config(&meta.model_config).map_err(|m| InferError::ckpt(path, m))?;
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
