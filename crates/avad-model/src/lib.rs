//! avad-model: the VadCLIP / AVadCLIP networks and losses, generic over the burn backend.
//!
//! One model type, [`AvadClip`], covers VadCLIP (`CLIPVAD`), the AVadCLIP teacher (`AVADCLIP`) and the visual
//! student (`AVADCLIP_MODEL`) through [`ModelConfig`] presets. Parameters carry the official PyTorch state-dict
//! names, so [`AvadClip::from_weights`] imports official checkpoints (read with `avad_nn::WeightMap::load`) and
//! [`AvadClip::to_weights`] exports them.
//!
//! Files mirror the paper's parts: `temporal.rs` (windowed transformer), `graph.rs` (adjacencies, GCN),
//! `audio_tcn.rs`, `fusion.rs`, `prompt.rs` (text prompt, AV prompt, alignment), `text_tower.rs` (the frozen CLIP
//! text tower: avad-clip's, under the official `clipmodel.*` keys), `model.rs` (wiring), `vadclip.rs` /
//! `teacher.rs` / `student.rs` (presets, outputs, FE net, UKD), `losses.rs`; `fast.rs` is the forward pass for
//! prediction on the CPU with prepacked weights (avad-kernels), tested against the burn modules. Weight names are declared once per
//! module, in its `avad_nn::VisitWeights` implementation.

#![warn(missing_docs)]

pub mod audio_tcn;
pub mod error;
pub mod fast;
pub mod fusion;
pub mod graph;
pub mod losses;
pub mod model;
pub mod nn;
pub mod prompt;
pub mod student;
pub mod teacher;
pub mod temporal;
pub mod testing;
pub mod text_tower;
pub mod vadclip;

pub use audio_tcn::{AudioTcnConfig, TemporalConvNet};
pub use error::{ModelError, Result};
pub use fast::{FastModel, FastModelOptions, FastOutput};
pub use fusion::FusionKind;
pub use losses::{compute_losses, LossConfig, Losses};
pub use model::{AvadClip, ImportReport, ModelConfig, ModelOutput};
pub use prompt::{ClassText, PromptVariant};
pub use student::{ukd_loss, FeNet};
pub use teacher::TeacherOutput;
pub use vadclip::VadClipOutput;
