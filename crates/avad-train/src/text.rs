//! Class names, their CLIP token ids, and the frozen CLIP text weights a model is built with: loaded from a
//! Hugging Face `CLIPModel` folder / OpenAI-named safetensors, or a **seeded random-weight** text encoder for the
//! synthetic benchmark and tests.

use std::path::Path;

use avad_clip::layout::{detect_layout, hf_text_to_openai, WeightLayout};
use avad_clip::model::infer_openai_text_config;
use avad_clip::{ClipTextConfig, ClipTextModel};
use avad_model::text_tower::random_text_tower;
use avad_nn::WeightMap;
use burn::prelude::*;

use crate::config::LabelSet;
use crate::error::{Result, TrainError};

/// The label map of a label set (codes of the list files, prompt words), from avad-core.
pub fn label_map(labels: LabelSet) -> avad_core::labels::LabelMap {
    match labels {
        LabelSet::Xd => avad_core::labels::LabelMap::xd_violence(),
        LabelSet::Ucf => avad_core::labels::LabelMap::ucf_crime(),
    }
}

/// The prompt words of a label set, index 0 = normal.
pub fn class_names(labels: LabelSet) -> Vec<String> {
    label_map(labels).names
}

/// A CLIP text tower of shape `cfg` (projection to `embed_dim`) with **random weights** drawn after seeding the backend with `seed`
/// (CLIP's own init scheme). For the synthetic benchmark and tests only: its text features carry no language
/// knowledge, so class prompts start as arbitrary but fixed vectors that the learnable prompt can still move.
pub fn random_clip_text<B: Backend>(
    cfg: &ClipTextConfig,
    embed_dim: usize,
    seed: u64,
    device: &B::Device,
) -> ClipTextModel<B> {
    B::seed(device, seed ^ 0xC11B_7E47);
    random_text_tower(cfg, embed_dim, device)
}

/// Reads CLIP text weights from `path` (a folder with `model.safetensors`, a `.safetensors` file, or a PyTorch
/// file) in either Hugging Face or OpenAI layout, and returns them under OpenAI names without prefix (the layout
/// the model's `clipmodel.*` uses) with the text shape inferred from them.
pub fn load_clip_text_weights(path: &Path) -> Result<(WeightMap, ClipTextConfig)> {
    let file = if path.is_dir() {
        let st = path.join("model.safetensors");
        if st.is_file() {
            st
        } else {
            return Err(TrainError::Clip(format!(
                "{}: folder has no model.safetensors",
                path.display()
            )));
        }
    } else {
        path.to_path_buf()
    };
    let clip_err = |m: String| TrainError::Clip(format!("{}: {m}", file.display()));
    let w = WeightMap::load(&file)?;
    let w = match detect_layout(&w, "") {
        Some(WeightLayout::HuggingFace) => {
            hf_text_to_openai(&w).map_err(|e| clip_err(e.to_string()))?
        }
        Some(WeightLayout::OpenAi) => w,
        None if w.contains("clipmodel.token_embedding.weight") => {
            w.with_prefix_stripped("clipmodel.")
        }
        None => {
            return Err(clip_err(
                "no CLIP text weights (HF or OpenAI names) found".into(),
            ))
        }
    };
    let mut cfg = infer_text_config(&w).map_err(clip_err)?;
    // A Hugging Face `config.json` next to the weights states the head count (OpenAI's rule is width / 64).
    let cfg_json = file.with_file_name("config.json");
    if let Ok(text) = std::fs::read_to_string(&cfg_json) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| TrainError::Clip(format!("{}: invalid JSON: {e}", cfg_json.display())))?;
        if let Some(h) = v
            .pointer("/text_config/num_attention_heads")
            .and_then(|h| h.as_u64())
        {
            cfg.num_attention_heads = h as usize;
        }
    }
    Ok((w, cfg))
}

/// The text shape of OpenAI-named CLIP text weights (no prefix); heads = width / 64, OpenAI's rule.
pub fn infer_text_config(w: &WeightMap) -> std::result::Result<ClipTextConfig, String> {
    let (c, _projection) = infer_openai_text_config(w, "").map_err(|e| e.to_string())?;
    if c.num_hidden_layers == 0 {
        return Err("no CLIP text transformer blocks found".into());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(p)
    }

    #[test]
    fn hf_and_openai_layouts_give_the_same_tensors() {
        // fixtures/clip/tiny_{hf,openai}: the same tiny random CLIP in both layouts (avad-clip's fixtures).
        let (hf, cfg_hf) = load_clip_text_weights(&fixture("clip/tiny_hf")).unwrap();
        let (oa, cfg_oa) = load_clip_text_weights(&fixture("clip/tiny_openai")).unwrap();
        assert_eq!(cfg_hf, cfg_oa);
        assert_eq!((cfg_hf.hidden_size, cfg_hf.num_hidden_layers), (32, 2));
        let mut n = 0;
        for k in hf.keys() {
            assert!(oa.contains(k), "OpenAI fixture lacks {k}");
            assert_eq!(hf.shape(k), oa.shape(k), "{k}");
            assert_eq!(hf.f32_values(k).unwrap(), oa.f32_values(k).unwrap(), "{k}");
            n += 1;
        }
        assert!(n >= 20);
    }

    #[test]
    fn class_tokens_are_sot_words_eot() {
        let ids = avad_infer::class_token_ids(&class_names(LabelSet::Xd));
        assert_eq!(ids.len(), 7);
        for row in &ids {
            assert_eq!(row[0], avad_clip::SOT_TOKEN);
            assert_eq!(*row.last().unwrap(), avad_clip::EOT_TOKEN);
        }
        assert_eq!(ids[5].len(), 4, "`car accident` is two BPE tokens");
        assert_eq!(class_names(LabelSet::Ucf).len(), 14);
    }
}
