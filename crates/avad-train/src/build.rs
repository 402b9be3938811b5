//! A fresh model for a training configuration: seeded initialisation and the frozen CLIP text tower, from real
//! CLIP weights or a seeded random-weight tower.

use std::path::PathBuf;

use avad_model::AvadClip;
use burn::prelude::*;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::text::{load_clip_text_weights, random_clip_text};

/// Where the frozen CLIP text weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipSource {
    /// A Hugging Face CLIP folder, an OpenAI-named safetensors file or a PyTorch file (see
    /// [`load_clip_text_weights`]); the text shape in the model config is replaced by the one of the weights.
    Pretrained(PathBuf),
    /// A seeded random-weight text encoder of the configured shape (needs `random_clip = true`).
    Random,
}

/// Builds a fresh model for `cfg` (seeded) with its CLIP text tower from `clip`; returns the model and the
/// config with the text shape of the loaded weights.
pub fn build_model<B: Backend>(
    cfg: &TrainConfig,
    clip: &ClipSource,
    device: &B::Device,
) -> Result<(AvadClip<B>, TrainConfig)> {
    let mut cfg = cfg.clone();
    let tower_sd = match clip {
        ClipSource::Pretrained(path) => {
            let (sd, text_cfg) = load_clip_text_weights(path)?;
            cfg.model.clip_text = text_cfg;
            Some(sd)
        }
        ClipSource::Random => {
            if !cfg.random_clip {
                return Err(TrainError::Config(format!(
                    "preset `{}` needs real CLIP text weights: pass --clip-model DIR (or set random_clip = true for experiments)",
                    cfg.preset
                )));
            }
            None
        }
    };
    cfg.validate()?;
    let _rng = avad_nn::init::seeded::<B>(device, cfg.seed);
    let mut model = AvadClip::<B>::new_without_text(&cfg.model, device)?;
    model = match tower_sd {
        Some(sd) => model.load_clip_text(&cfg.model.clip_text, &sd, "")?,
        None => {
            model.clipmodel =
                random_clip_text(&cfg.model.clip_text, cfg.model.embed_dim, cfg.seed, device);
            model
        }
    };
    Ok((model.freeze_clip(), cfg))
}
