//! Random-weight models for tests and benchmarks (not for real use): Wav2CLIP's deterministic formula weights as a
//! safetensors file, and a tiny seeded random AVadCLIP/VadCLIP checkpoint of any visual width.

use std::path::{Path, PathBuf};

use avad_train::checkpoint::{write_model_checkpoint, CheckpointMeta};
use avad_train::{build_model, ClipSource, LabelSet, TrainConfig};
use burn::prelude::*;

use crate::error::{PipelineError, Result};

/// Writes avad-wav2clip's full-size formula weights (`avad_wav2clip::testing`) to `path` (f16 safetensors, ~22 MB).
pub fn write_wav2clip_formula(path: &Path) -> Result<()> {
    avad_wav2clip::testing::formula_state_dict()
        .save_safetensors(path, true)
        .map_err(|source| PipelineError::Wav2Clip {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes a seeded random-weight checkpoint (`DIR/model.json` + `model.safetensors`) with XD's 7 classes:
/// the AVadCLIP teacher (audio width 512) when `audio`, else VadCLIP; visual width `visual_width`, padded length 32,
/// a 1-layer random CLIP text tower. Returns the JSON path.
pub fn write_tiny_checkpoint<B: Backend>(
    dir: &Path,
    visual_width: usize,
    audio: bool,
    seed: u64,
    device: &B::Device,
) -> Result<PathBuf> {
    let mut cfg = if audio {
        TrainConfig::synth_teacher()
    } else {
        TrainConfig::synth_vadclip()
    };
    cfg.seed = seed;
    cfg.set_feature_width(visual_width);
    if let Some(a) = cfg.model.audio.as_mut() {
        a.input_width = avad_wav2clip::EMBED_DIM;
    }
    cfg.model.visual_length = 32;
    cfg.model.clip_text.layers = 1;
    let (model, cfg) = build_model::<B>(&cfg, &ClipSource::Random, device)?;
    let meta = CheckpointMeta::new(
        cfg.model.clone(),
        avad_train::text::class_names(LabelSet::Xd),
        "model.safetensors",
    );
    Ok(write_model_checkpoint(dir, meta, &model.to_state_dict())?)
}
