//! avad-train: training of the VadCLIP / AVadCLIP models, checkpoints and resume, prediction, and import of
//! official PyTorch checkpoints.
//!
//! - [`config`]: [`TrainConfig`], the presets of spec §4 and TOML overrides.
//! - [`optim`]: AdamW with PyTorch semantics (state keyed by parameter path) and MultiStepLR.
//! - [`data`]: training rows, official batching, validation split, test-time chunking.
//! - [`text`]: class names, CLIP token ids, CLIP text weights (HF/OpenAI) or a seeded random text encoder.
//! - [`trainer`]: the epoch loop with selection, checkpoints and resume.
//! - [`checkpoint`]: the checkpoint format (JSON + safetensors).
//! - [`predict`]: scoring whole videos; [`eval`]: AP/AUC of both branches.
//! - [`distill`]: uncertainty-driven distillation (UKD) of a visual or audio student from a frozen teacher.
//! - [`bundle`]: a teacher + students bundle that picks the model per video (audio present → teacher).

pub mod bundle;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distill;
pub mod error;
pub mod eval;
pub mod import;
pub mod lists;
pub mod optim;
pub mod predict;
pub mod text;
pub mod trainer;

pub use bundle::{BundleSpec, ModelBundle, Role};
pub use checkpoint::{Checkpoint, CheckpointMeta, EpochRecord, Progress};
pub use config::{Batching, LabelSet, Modality, Selection, TrainConfig, PRESET_NAMES};
pub use data::{Batch, Dataset, FeatureLoader, Row, Sample};
pub use distill::{distill, Teacher};
pub use error::{Result, TrainError};
pub use eval::{BranchMetrics, TestVideo};
pub use import::{import_official, ImportKind, ImportOptions, ImportSummary};
pub use optim::{AdamW, AdamWConfig, MultiStepLr};
pub use predict::{Predictor, VideoScores};
pub use trainer::{
    build_model, train, ClipSource, ResumeMode, TestSet, TrainOptions, TrainSummary,
};
