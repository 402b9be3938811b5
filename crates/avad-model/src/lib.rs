//! avad-model: the VadCLIP / AVadCLIP networks and losses, generic over the burn backend.
//!
//! One model type, [`AvadClip`], covers VadCLIP (`CLIPVAD`), the AVadCLIP teacher (`AVADCLIP`) and the visual
//! student (`AVADCLIP_MODEL`) through [`ModelConfig`] presets. Parameters carry the official PyTorch state-dict
//! names, so [`AvadClip::from_state_dict`] imports official checkpoints ([`StateDict::load_pytorch`]) and
//! [`AvadClip::to_state_dict`] exports them. Spec: `avadclip.md` §1–§4.
//!
//! Files mirror the paper's parts: `temporal.rs` (windowed transformer), `graph.rs` (adjacencies, GCN),
//! `audio_tcn.rs`, `fusion.rs`, `prompt.rs` (text prompt, AV prompt, alignment), `clip_text.rs` (frozen CLIP text
//! tower), `model.rs` (wiring), `vadclip.rs` / `teacher.rs` / `student.rs` (presets, outputs, FE net, UKD),
//! `losses.rs`, `state.rs` (state dicts, safetensors / `.pth`).

pub mod audio_tcn;
pub mod clip_text;
pub mod error;
pub mod fusion;
pub mod graph;
pub mod losses;
pub mod model;
pub mod nn;
pub mod prompt;
pub mod state;
pub mod student;
pub mod teacher;
pub mod temporal;
pub mod vadclip;

pub use audio_tcn::{AudioTcnConfig, TemporalConvNet};
pub use clip_text::{ClipTextConfig, ClipTextTower, EOT_TOKEN, SOT_TOKEN};
pub use error::{ModelError, Result};
pub use fusion::FusionKind;
pub use losses::{compute_losses, LossConfig, Losses};
pub use model::{AvadClip, ImportReport, ModelConfig, ModelOutput};
pub use prompt::{ClassText, PromptVariant};
pub use state::StateDict;
pub use student::{ukd_loss, FeNet};
pub use teacher::TeacherOutput;
pub use vadclip::VadClipOutput;
