//! Random-weight checkpoints for tests, examples and the demo (not for real use).

use std::path::{Path, PathBuf};

use avad_infer::{write_model_checkpoint, CheckpointMeta};
use burn::prelude::*;

use crate::build::{build_model, ClipSource};
use crate::config::{LabelSet, TrainConfig};
use crate::error::Result;
use crate::text::class_names;

/// Writes a seeded random-weight checkpoint (`DIR/model.json` + `model.safetensors`) with XD's 7 classes:
/// the AVadCLIP teacher reading `audio_width`-wide audio features (Wav2CLIP's are 512) when `audio_width` is given,
/// else VadCLIP; visual width `visual_width`, padded length 32, a 1-layer random CLIP text tower. Returns the JSON
/// path.
pub fn write_tiny_checkpoint<B: Backend>(
    dir: &Path,
    visual_width: usize,
    audio_width: Option<usize>,
    seed: u64,
    device: &B::Device,
) -> Result<PathBuf> {
    let mut cfg = if audio_width.is_some() {
        TrainConfig::synth_teacher()
    } else {
        TrainConfig::synth_vadclip()
    };
    cfg.seed = seed;
    cfg.set_feature_width(visual_width);
    if let (Some(a), Some(width)) = (cfg.model.audio.as_mut(), audio_width) {
        a.input_width = width;
    }
    cfg.model.visual_length = 32;
    cfg.model.clip_text.num_hidden_layers = 1;
    let (model, cfg) = build_model::<B>(&cfg, &ClipSource::Random, device)?;
    let meta: CheckpointMeta = CheckpointMeta::new(
        cfg.model.clone(),
        class_names(LabelSet::Xd),
        "model.safetensors",
    );
    Ok(write_model_checkpoint(dir, meta, &model.to_weights())?)
}
