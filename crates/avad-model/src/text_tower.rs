//! The frozen CLIP text tower as VadCLIP uses it (`src/clip/model.py: encode_token`, `encode_text(emb, tokens)`):
//! avad-clip's [`ClipTextModel`], sized by [`ClipTextConfig`]; seeded random weights for synthetic runs; and its
//! weights under the official `clipmodel.*` keys (OpenAI names: `token_embedding.weight`, `positional_embedding`,
//! `transformer.resblocks.N.*`, `ln_final.*`, `text_projection`).

use avad_clip::layout::{hf_text_to_openai, WeightLayout};
use avad_clip::ClipTextModel;
use avad_nn::init::{normal, Init};
use avad_nn::{save_weights, WeightMap};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::temporal::Transformer;

/// Key prefix of the frozen CLIP model inside official checkpoints.
pub const CLIP_PREFIX: &str = "clipmodel.";

/// Shape of the CLIP text tower (defaults: ViT-B/16's text encoder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipTextConfig {
    /// Transformer width (512).
    pub width: usize,
    /// Number of blocks (12).
    pub layers: usize,
    /// Attention heads (8).
    pub heads: usize,
    /// Context length (77).
    pub context_length: usize,
    /// Vocabulary size (49408).
    pub vocab_size: usize,
    /// Output width of `text_projection` (512).
    pub embed_dim: usize,
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        Self {
            width: 512,
            layers: 12,
            heads: 8,
            context_length: 77,
            vocab_size: 49408,
            embed_dim: 512,
        }
    }
}

impl ClipTextConfig {
    /// The same shape as avad-clip's Hugging Face-style config (MLP 4·width, quick_gelu, LayerNorm eps 1e-5).
    pub fn to_clip(&self) -> avad_clip::ClipTextConfig {
        avad_clip::ClipTextConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.width,
            intermediate_size: 4 * self.width,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            max_position_embeddings: self.context_length,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// Loads the text tower from OpenAI-named weights under `prefix` (`""` for a bare CLIP text state dict,
/// `"clipmodel."` inside an official checkpoint); other keys are ignored.
pub fn load_text_tower<B: Backend>(
    w: &WeightMap,
    cfg: &ClipTextConfig,
    prefix: &str,
    device: &B::Device,
) -> Result<ClipTextModel<B>> {
    Ok(ClipTextModel::from_weights(
        w,
        &cfg.to_clip(),
        cfg.embed_dim,
        WeightLayout::OpenAi,
        prefix,
        device,
    )?)
}

/// A text tower of shape `cfg` with random weights drawn now from the backend's generator, in the order and with
/// the distributions of CLIP's own init (embeddings N(0, 0.02) / N(0, 0.01), PyTorch-default blocks, projection
/// N(0, width^-½)). Seed the backend first for reproducible weights.
pub fn random_text_tower<B: Backend>(cfg: &ClipTextConfig, device: &B::Device) -> ClipTextModel<B> {
    let w = cfg.width;
    let mut map = WeightMap::new();
    let mut put = |name: &str, t: Tensor<B, 2>| {
        map.insert(name, t.into_data());
    };
    put(
        "token_embedding.weight",
        normal([cfg.vocab_size, w], 0.02, device),
    );
    put(
        "positional_embedding",
        normal([cfg.context_length, w], 0.01, device),
    );
    let blocks = Transformer::<B>::new(w, cfg.layers, cfg.heads, Init::Random, device);
    map.extend(save_weights(&blocks, "transformer."));
    map.insert_f32("ln_final.weight", vec![w], vec![1.0; w]);
    map.insert_f32("ln_final.bias", vec![w], vec![0.0; w]);
    let proj: Tensor<B, 2> = normal([w, cfg.embed_dim], (w as f64).powf(-0.5), device);
    map.insert("text_projection", proj.into_data());
    load_text_tower(&map, cfg, "", device).expect("random weights have the declared shapes")
}

/// The text tower's weights under OpenAI names with `prefix` (the layout of official checkpoints).
pub fn text_tower_weights<B: Backend>(tower: &ClipTextModel<B>, prefix: &str) -> WeightMap {
    hf_text_to_openai(&save_weights(tower, ""))
        .expect("a loaded text tower has every key")
        .with_prefix_added(prefix)
}

/// Whether `key` (with its `clipmodel.` prefix) is one of the text tower's OpenAI-named keys.
pub fn is_text_tower_key(key: &str) -> bool {
    let k = key.strip_prefix(CLIP_PREFIX).unwrap_or(key);
    [
        "token_embedding.",
        "positional_embedding",
        "transformer.",
        "ln_final.",
        "text_projection",
    ]
    .iter()
    .any(|p| k.starts_with(p))
}

/// `encode_token`: token ids [C][≤context] (zero padded to the context) → embeddings [C, context, width].
pub fn embed_tokens<B: Backend>(
    tower: &ClipTextModel<B>,
    ids: &[Vec<u32>],
) -> Result<Tensor<B, 3>> {
    let vocab = tower.vocab_size();
    let ctx = tower.context_length();
    let mut flat = Vec::with_capacity(ids.len() * ctx);
    for (c, row) in ids.iter().enumerate() {
        if row.len() > ctx {
            return Err(ModelError::Input(format!(
                "class {c}: {} tokens exceed the context {ctx}",
                row.len()
            )));
        }
        if let Some(t) = row.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Input(format!(
                "class {c}: token id {t} outside the vocabulary {vocab}"
            )));
        }
        flat.extend(row.iter().map(|&t| t as i64));
        flat.extend(std::iter::repeat_n(0i64, ctx - row.len()));
    }
    let device = tower.token_embedding.device();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [ids.len(), ctx]), &device);
    Ok(tower.token_embedding(ids)?)
}
