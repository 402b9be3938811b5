//! The frozen CLIP text tower as VadCLIP uses it (`src/clip/model.py: encode_token`, `encode_text(emb, tokens)`):
//! avad-clip's [`ClipTextModel`], sized by [`ClipTextConfig`]; seeded random weights for synthetic runs; and its
//! weights under the official `clipmodel.*` keys (OpenAI names: `token_embedding.weight`, `positional_embedding`,
//! `transformer.resblocks.N.*`, `ln_final.*`, `text_projection`).

use avad_clip::layout::{hf_text_to_openai, WeightLayout};
use avad_clip::{ClipTextConfig, ClipTextModel};
use avad_nn::init::{normal, Init};
use avad_nn::{save_weights, WeightMap};
use burn::prelude::*;
use serde::{Deserialize, Deserializer};

use crate::error::{ModelError, Result};
use crate::temporal::Transformer;

/// Key prefix of the frozen CLIP model inside official checkpoints.
pub const CLIP_PREFIX: &str = "clipmodel.";

/// Reads the text tower's config ([`avad_clip::ClipTextConfig`]) in either spelling: Hugging Face's field names,
/// or the ones avad's model files used first (`width`, `layers`, `heads`, `context_length`, `vocab_size`,
/// `embed_dim`), so that older checkpoints and fixtures keep loading. A `width` also sets the MLP width to
/// 4 × width (VadCLIP's tower is OpenAI CLIP's); `embed_dim` is the model's own `embed_dim` and is not stored here.
pub fn deserialize_text_config<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<ClipTextConfig, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct EitherSpelling {
        vocab_size: Option<usize>,
        hidden_size: Option<usize>,
        intermediate_size: Option<usize>,
        num_hidden_layers: Option<usize>,
        num_attention_heads: Option<usize>,
        max_position_embeddings: Option<usize>,
        hidden_act: Option<String>,
        layer_norm_eps: Option<f64>,
        width: Option<usize>,
        layers: Option<usize>,
        heads: Option<usize>,
        context_length: Option<usize>,
        #[allow(dead_code)]
        embed_dim: Option<usize>,
    }
    let e = EitherSpelling::deserialize(d)?;
    let mut c = ClipTextConfig::default();
    let set = |slot: &mut usize, v: Option<usize>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut c.vocab_size, e.vocab_size);
    set(&mut c.hidden_size, e.hidden_size);
    set(&mut c.intermediate_size, e.intermediate_size);
    set(&mut c.num_hidden_layers, e.num_hidden_layers.or(e.layers));
    set(
        &mut c.num_attention_heads,
        e.num_attention_heads.or(e.heads),
    );
    set(
        &mut c.max_position_embeddings,
        e.max_position_embeddings.or(e.context_length),
    );
    if let Some(w) = e.width {
        c.hidden_size = w;
        c.intermediate_size = w.checked_mul(4).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "clip_text.width {w} is too large (4 × width overflows)"
            ))
        })?;
    }
    if let Some(a) = e.hidden_act {
        c.hidden_act = a;
    }
    if let Some(eps) = e.layer_norm_eps {
        c.layer_norm_eps = eps;
    }
    Ok(c)
}

/// Sets the tower's width (and its MLP's, 4 × width, as OpenAI CLIP's), keeping the head count a divisor.
pub fn set_text_width(c: &mut ClipTextConfig, width: usize) {
    c.hidden_size = width;
    // Saturates (usize::MAX then fails `validate`'s `intermediate_size == 4 × hidden_size` with a clear error).
    c.intermediate_size = width.saturating_mul(4);
    if c.num_attention_heads == 0 || !width.is_multiple_of(c.num_attention_heads) {
        c.num_attention_heads = 1;
    }
}

/// Loads the text tower (projection to `embed_dim`) from OpenAI-named weights under `prefix` (`""` for a bare CLIP
/// text state dict, `"clipmodel."` inside an official checkpoint); other keys are ignored.
pub fn load_text_tower<B: Backend>(
    w: &WeightMap,
    cfg: &ClipTextConfig,
    embed_dim: usize,
    prefix: &str,
    device: &B::Device,
) -> Result<ClipTextModel<B>> {
    Ok(ClipTextModel::from_weights(
        w,
        cfg,
        embed_dim,
        WeightLayout::OpenAi,
        prefix,
        device,
    )?)
}

/// A text tower of shape `cfg` (projection to `embed_dim`) with random weights drawn now from the backend's
/// generator, in the order and with the distributions of CLIP's own init (embeddings N(0, 0.02) / N(0, 0.01),
/// PyTorch-default blocks, projection N(0, width^-½)). Seed the backend first for reproducible weights.
pub fn random_text_tower<B: Backend>(
    cfg: &ClipTextConfig,
    embed_dim: usize,
    device: &B::Device,
) -> ClipTextModel<B> {
    let w = cfg.hidden_size;
    let (vocab, ctx) = (cfg.vocab_size, cfg.max_position_embeddings);
    let mut map = WeightMap::new();
    let mut put = |name: &str, t: Tensor<B, 2>| {
        map.insert(name, t.into_data());
    };
    put("token_embedding.weight", normal([vocab, w], 0.02, device));
    put("positional_embedding", normal([ctx, w], 0.01, device));
    let blocks = Transformer::<B>::new(
        w,
        cfg.num_hidden_layers,
        cfg.num_attention_heads,
        Init::Random,
        device,
    );
    map.extend(save_weights(&blocks, "transformer."));
    map.insert_f32("ln_final.weight", vec![w], vec![1.0; w]);
    map.insert_f32("ln_final.bias", vec![w], vec![0.0; w]);
    let proj: Tensor<B, 2> = normal([w, embed_dim], (w as f64).powf(-0.5), device);
    map.insert("text_projection", proj.into_data());
    load_text_tower(&map, cfg, embed_dim, "", device)
        .expect("random weights have the declared shapes")
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
