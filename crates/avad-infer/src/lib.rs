//! avad-infer: scoring videos with trained VadCLIP / AVadCLIP models, without the training machinery.
//!
//! - [`checkpoint`]: the checkpoint format (JSON + safetensors): [`CheckpointMeta`], [`Checkpoint`],
//!   [`write_model_checkpoint`].
//! - [`inputs`]: what a model reads: [`StudentInput`] (which features go into the visual slot), the videos of a list
//!   and their feature files ([`VideoInput`], [`read_videos`], [`read_stored_features`]), the audio's
//!   [`AudioStatus`] and the silence rule.
//! - [`predict`]: [`Predictor`] scores whole videos with the official test-time chunking (on the CPU with the fast
//!   engine, [`ModelEngine`]); [`VideoScores`].
//! - [`online`]: [`LiveScorer`] scores snippets as they arrive (trailing window, lookahead), the rule of
//!   `avad watch`; [`replay_live`] applies it to a whole video.
//! - [`bundle`]: a teacher and its students in one [`ModelBundle`] that picks the model per video (audio present →
//!   teacher, else the visual student).
//!
//! Training (avad-train) builds on this crate; feature extraction and `avad detect` (avad-pipeline) use it alone.

#![warn(missing_docs)]

pub mod bundle;
pub mod checkpoint;
pub mod error;
pub mod inputs;
mod json;
pub mod online;
pub mod predict;

pub use bundle::{BundleMember, BundleScores, BundleSpec, ModelBundle, Role};
pub use checkpoint::{write_model_checkpoint, Checkpoint, CheckpointMeta};
pub use error::{InferError, Result};
pub use inputs::{
    is_silent, read_features, read_stored_features, read_video_features, read_videos, AudioStatus,
    StoredFeatures, StudentInput, VideoInput,
};
pub use online::{replay_live, LiveScore, LiveScorer, LiveWindow};
pub use predict::{class_token_ids, ModelEngine, Predictor, VideoScores};
