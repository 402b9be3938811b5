//! avad-train: training of the VadCLIP / AVadCLIP models, distillation of students, checkpoints and resume, import
//! of official PyTorch checkpoints, and the `avad bench` timings. Scoring with a trained model is avad-infer's job.
//!
//! - [`config`]: [`TrainConfig`], the presets (the official recipes and synthetic-benchmark ones) and TOML
//!   overrides.
//! - [`data`]: training rows, official batching, validation split; [`lists`]: training and test sets from list
//!   CSVs and `.npy` features.
//! - [`text`]: class names, CLIP text weights (HF/OpenAI) or a seeded random text encoder; [`build`]: a fresh model
//!   for a configuration.
//! - [`optim`]: AdamW with PyTorch semantics (state keyed by parameter path) and MultiStepLR.
//! - [`step`]: one training step ([`train_step`]: forward, losses, backward, AdamW), shared by training,
//!   distillation and the benchmark.
//! - [`resume`]: starting a run or restoring it from `last.json`; [`eval`]: per-epoch metrics of both branches and
//!   the selection rule; [`checkpoint`]: the training side of the checkpoint format and the output folder.
//! - [`trainer`]: the epoch loop ([`train`]).
//! - [`teacher`] and [`distill`]: uncertainty-driven distillation (UKD) of a visual or audio student from a frozen
//!   teacher; [`kd`]: the plain distillation term (teacher scores or features) the training step can add.
//! - [`import`]: official `.pth` checkpoints to avad checkpoints; [`bench`]: `avad bench`; [`testing`]: small
//!   random-weight checkpoints for tests.

#![warn(missing_docs)]

pub mod bench;
pub mod build;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distill;
pub mod error;
pub mod eval;
pub mod import;
pub mod kd;
pub mod lists;
pub mod optim;
pub mod resume;
pub mod step;
pub mod teacher;
pub mod testing;
pub mod text;
pub mod trainer;

pub use build::{build_model, ClipSource};
pub use checkpoint::{EpochRecord, LossValues, Progress, TrainCheckpoint, TrainCheckpointMeta};
pub use config::{Batching, LabelSet, Selection, TrainConfig, PRESET_NAMES};
pub use data::{Batch, Dataset, FeatureLoader, Row, Sample};
pub use distill::distill;
pub use error::{Result, TrainError};
pub use eval::{BranchMetrics, EpochMetrics, TestSet, TestVideo};
pub use import::{import_official, ImportKind, ImportOptions, ImportSummary};
pub use optim::{AdamW, AdamWConfig, MultiStepLr};
pub use resume::ResumeMode;
pub use step::{train_step, StepLosses};
pub use teacher::Teacher;
pub use trainer::{train, TrainOptions, TrainSummary};
