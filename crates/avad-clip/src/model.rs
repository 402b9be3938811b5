//! The whole CLIP model (both towers) and loading from a directory or a safetensors file.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{backend::Backend, Int, Tensor};

use avad_nn::WeightMap;

use crate::config::{ClipConfig, ClipTextConfig, ClipVisionConfig};
use crate::error::ClipError;
use crate::layout::{detect_layout, WeightLayout};
use crate::text::ClipTextModel;
use crate::vision::ClipVisionModel;

/// CLIP image and text towers with their projections.
#[derive(Module, Debug)]
pub struct ClipModel<B: Backend> {
    /// Image tower.
    pub vision: ClipVisionModel<B>,
    /// Text tower.
    pub text: ClipTextModel<B>,
    /// `logit_scale` (log of the inverse temperature), 0 if absent.
    pub logit_scale: f32,
}

/// Resolves a model path: a directory (with `model.safetensors` and optionally `config.json`) or a
/// `.safetensors` file (with an optional `config.json` next to it). Returns (weights file, config file if any).
pub fn resolve_model_path(path: &Path) -> Result<(PathBuf, Option<PathBuf>), ClipError> {
    let io = |msg: &str| ClipError::Io {
        path: path.display().to_string(),
        error: std::io::Error::new(std::io::ErrorKind::NotFound, msg.to_string()),
    };
    if path.is_dir() {
        let st = path.join("model.safetensors");
        if !st.is_file() {
            return Err(io("model directory has no model.safetensors"));
        }
        let cfg = path.join("config.json");
        Ok((st, cfg.is_file().then_some(cfg)))
    } else if path.is_file() {
        let cfg = path.parent().map(|p| p.join("config.json"));
        Ok((path.to_path_buf(), cfg.filter(|c| c.is_file())))
    } else {
        Err(io("no such model directory or file"))
    }
}

fn dim(w: &WeightMap, name: &str, axis: usize) -> Result<usize, ClipError> {
    let shape = w.shape(name).ok_or_else(|| w.missing(name))?;
    shape.get(axis).copied().ok_or_else(|| {
        ClipError::Input(format!(
            "{}: tensor `{name}` has shape {shape:?}, no axis {axis}",
            w.source()
        ))
    })
}

/// Infers the text config from OpenAI-named weights (heads = width / 64, as OpenAI's `build_model`).
pub fn infer_openai_text_config(
    w: &WeightMap,
    prefix: &str,
) -> Result<(ClipTextConfig, usize), ClipError> {
    let p = prefix;
    let width = dim(w, &format!("{p}ln_final.weight"), 0)?;
    let cfg = ClipTextConfig {
        vocab_size: dim(w, &format!("{p}token_embedding.weight"), 0)?,
        hidden_size: width,
        intermediate_size: dim(w, &format!("{p}transformer.resblocks.0.mlp.c_fc.weight"), 0)?,
        num_hidden_layers: w
            .count_blocks(&format!("{p}transformer.resblocks."), "attn.in_proj_weight"),
        num_attention_heads: (width / 64).max(1),
        max_position_embeddings: dim(w, &format!("{p}positional_embedding"), 0)?,
        ..ClipTextConfig::default()
    };
    let proj = dim(w, &format!("{p}text_projection"), 1)?;
    Ok((cfg, proj))
}

/// Infers the whole config from OpenAI-named weights (heads = width / 64, as OpenAI's `build_model`).
pub fn infer_openai_config(w: &WeightMap, prefix: &str) -> Result<ClipConfig, ClipError> {
    let p = prefix;
    let (text, proj) = infer_openai_text_config(w, p)?;
    let width = dim(w, &format!("{p}visual.conv1.weight"), 0)?;
    let patch = dim(w, &format!("{p}visual.conv1.weight"), 3)?;
    let npos = dim(w, &format!("{p}visual.positional_embedding"), 0)?;
    let grid = ((npos.saturating_sub(1)) as f64).sqrt().round() as usize;
    let vision = ClipVisionConfig {
        hidden_size: width,
        intermediate_size: dim(
            w,
            &format!("{p}visual.transformer.resblocks.0.mlp.c_fc.weight"),
            0,
        )?,
        num_hidden_layers: w.count_blocks(
            &format!("{p}visual.transformer.resblocks."),
            "attn.in_proj_weight",
        ),
        num_attention_heads: (width / 64).max(1),
        num_channels: dim(w, &format!("{p}visual.conv1.weight"), 1)?,
        image_size: grid * patch,
        patch_size: patch,
        ..ClipVisionConfig::default()
    };
    let cfg = ClipConfig {
        text_config: text,
        vision_config: vision,
        projection_dim: proj,
    };
    cfg.validate()?;
    Ok(cfg)
}

fn load_map_and_config(
    path: &Path,
    prefix: &str,
) -> Result<(WeightMap, Option<ClipConfig>, WeightLayout), ClipError> {
    let (st, cfg) = resolve_model_path(path)?;
    let w = WeightMap::load_safetensors(&st)?;
    let layout = detect_layout(&w, prefix)
        .ok_or_else(|| ClipError::UnknownLayout(format!("{} (prefix {prefix:?})", st.display())))?;
    let cfg = match cfg {
        Some(c) => Some(ClipConfig::from_json_file(&c)?),
        None => None,
    };
    Ok((w, cfg, layout))
}

/// [`load_map_and_config`], with the config inferred from the tensor shapes for OpenAI-named weights without a
/// `config.json` (Hugging Face weights need one).
fn load_map_and_full_config(
    path: &Path,
    prefix: &str,
) -> Result<(WeightMap, ClipConfig, WeightLayout), ClipError> {
    let (w, cfg, layout) = load_map_and_config(path, prefix)?;
    let cfg = match (cfg, layout) {
        (Some(c), _) => c,
        (None, WeightLayout::OpenAi) => infer_openai_config(&w, prefix)?,
        (None, WeightLayout::HuggingFace) => {
            return Err(ClipError::Config(format!(
                "{}: Hugging Face weights need a config.json",
                path.display()
            )))
        }
    };
    Ok((w, cfg, layout))
}

impl<B: Backend> ClipModel<B> {
    /// Loads a HF `CLIPModel` directory (`config.json` + `model.safetensors`) or an OpenAI-named safetensors file
    /// (config inferred from shapes when there is no `config.json`).
    pub fn load(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, ClipError> {
        Self::load_with_prefix(path, "", device)
    }

    /// Like [`ClipModel::load`], with every key prefixed by `prefix` (e.g. `"clipmodel."`).
    pub fn load_with_prefix(
        path: impl AsRef<Path>,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let (w, cfg, layout) = load_map_and_full_config(path.as_ref(), prefix)?;
        Self::from_weights(&w, &cfg, layout, prefix, device)
    }

    /// Builds the model from a weight map already in memory.
    pub fn from_weights(
        w: &WeightMap,
        cfg: &ClipConfig,
        layout: WeightLayout,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        cfg.validate()?;
        let vision = ClipVisionModel::from_weights(
            w,
            &cfg.vision_config,
            cfg.projection_dim,
            layout,
            prefix,
            device,
        )?;
        let text = ClipTextModel::from_weights(
            w,
            &cfg.text_config,
            cfg.projection_dim,
            layout,
            prefix,
            device,
        )?;
        let logit_scale = w
            .f32_values(&format!("{prefix}logit_scale"))
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(0.0);
        Ok(Self {
            vision,
            text,
            logit_scale,
        })
    }

    /// Image embeddings `[B, 3, S, S] → [B, proj]` (not normalised).
    pub fn encode_image(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 2>, ClipError> {
        self.vision.forward(pixels)
    }

    /// Text embeddings from token ids `[C, L] → [C, proj]` (not normalised).
    pub fn encode_text_ids(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 2>, ClipError> {
        self.text.encode_ids(ids)
    }

    /// Text embeddings from input embeddings `[C, L, D]` and EOT positions → `[C, proj]`.
    pub fn encode_text_embeddings(
        &self,
        embeds: Tensor<B, 3>,
        eot: &[usize],
    ) -> Result<Tensor<B, 2>, ClipError> {
        self.text.encode_embeddings(embeds, eot)
    }

    /// Token embedding lookup `[C, L] → [C, L, D]`.
    pub fn token_embedding(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>, ClipError> {
        self.text.token_embedding(ids)
    }
}

impl<B: Backend> ClipTextModel<B> {
    /// Loads only the text tower from a model directory or safetensors file; `prefix` as in
    /// [`ClipModel::load_with_prefix`] (`"clipmodel."` for VadCLIP checkpoints converted to safetensors).
    pub fn load(
        path: impl AsRef<Path>,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let (w, cfg, layout) = load_map_and_config(path.as_ref(), prefix)?;
        let (tcfg, proj) = match (cfg, layout) {
            (Some(c), _) => (c.text_config, c.projection_dim),
            (None, WeightLayout::OpenAi) => infer_openai_text_config(&w, prefix)?,
            (None, WeightLayout::HuggingFace) => {
                return Err(ClipError::Config(format!(
                    "{}: Hugging Face weights need a config.json",
                    path.as_ref().display()
                )))
            }
        };
        Self::from_weights(&w, &tcfg, proj, layout, prefix, device)
    }
}

impl<B: Backend> ClipVisionModel<B> {
    /// Loads only the image tower from a model directory or safetensors file.
    pub fn load(
        path: impl AsRef<Path>,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let (w, cfg, layout) = load_map_and_full_config(path.as_ref(), prefix)?;
        Self::from_weights(
            &w,
            &cfg.vision_config,
            cfg.projection_dim,
            layout,
            prefix,
            device,
        )
    }
}
