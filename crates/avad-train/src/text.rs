//! Class names, their CLIP token ids, and the frozen CLIP text weights a model is built with: loaded from a
//! Hugging Face `CLIPModel` folder / OpenAI-named safetensors, or a **seeded random-weight** text encoder for the
//! synthetic benchmark and tests.

use std::path::Path;

use avad_model::{ClipTextConfig, ClipTextTower, StateDict};
use burn::prelude::*;
use burn::tensor::DType;

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

/// `clip.tokenize(names)` rows `[SOT, …, EOT]` (unpadded) with CLIP's BPE tokenizer.
pub fn class_token_ids(names: &[String]) -> Vec<Vec<u32>> {
    let tok = avad_clip::Tokenizer::new();
    names
        .iter()
        .map(|n| tok.tokenize_ids(n, avad_clip::CONTEXT_LENGTH))
        .collect()
}

/// A CLIP text tower of shape `cfg` with **random weights** drawn after seeding the backend with `seed`
/// (CLIP's own init scheme). For the synthetic benchmark and tests only: its text features carry no language
/// knowledge, so class prompts start as arbitrary but fixed vectors that the learnable prompt can still move.
pub fn random_clip_text<B: Backend>(
    cfg: &ClipTextConfig,
    seed: u64,
    device: &B::Device,
) -> ClipTextTower<B> {
    B::seed(device, seed ^ 0xC11B_7E47);
    ClipTextTower::new(cfg, device)
}

/// Reads CLIP text weights from `path` (a folder with `model.safetensors`, a `.safetensors` file, or a PyTorch
/// file) in either Hugging Face or OpenAI layout, and returns them under OpenAI names without prefix (the layout
/// the model's `clipmodel.*` uses) with the text shape inferred from them.
pub fn load_clip_text_weights(path: &Path) -> Result<(StateDict, ClipTextConfig)> {
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
    let sd = StateDict::load(&file)?;
    let sd = if sd
        .get("text_model.embeddings.token_embedding.weight")
        .is_some()
    {
        hf_text_to_openai(&sd).map_err(|m| TrainError::Clip(format!("{}: {m}", file.display())))?
    } else if sd.get("token_embedding.weight").is_some() {
        sd
    } else if sd.get("clipmodel.token_embedding.weight").is_some() {
        sd.with_prefix_stripped("clipmodel.")
    } else {
        return Err(TrainError::Clip(format!(
            "{}: no CLIP text weights (HF or OpenAI names) found",
            file.display()
        )));
    };
    let mut cfg =
        infer_text_config(&sd).map_err(|m| TrainError::Clip(format!("{}: {m}", file.display())))?;
    // A Hugging Face `config.json` next to the weights states the head count (OpenAI's rule is width / 64).
    let cfg_json = file.with_file_name("config.json");
    if let Ok(text) = std::fs::read_to_string(&cfg_json) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| TrainError::Clip(format!("{}: invalid JSON: {e}", cfg_json.display())))?;
        if let Some(h) = v
            .pointer("/text_config/num_attention_heads")
            .and_then(|h| h.as_u64())
        {
            cfg.heads = h as usize;
        }
    }
    Ok((sd, cfg))
}

fn shape(sd: &StateDict, name: &str) -> std::result::Result<Vec<usize>, String> {
    sd.get(name)
        .map(|d| d.shape.to_vec())
        .ok_or_else(|| format!("missing `{name}`"))
}

/// The text shape of OpenAI-named weights (heads = width / 64, as OpenAI's `build_model`).
pub fn infer_text_config(sd: &StateDict) -> std::result::Result<ClipTextConfig, String> {
    let tok = shape(sd, "token_embedding.weight")?;
    let pos = shape(sd, "positional_embedding")?;
    let proj = shape(sd, "text_projection")?;
    let layers = (0..)
        .take_while(|i| {
            sd.get(&format!("transformer.resblocks.{i}.attn.in_proj_weight"))
                .is_some()
        })
        .count();
    if tok.len() != 2 || pos.len() != 2 || proj.len() != 2 || layers == 0 {
        return Err(format!("unexpected CLIP text shapes: token {tok:?}, positions {pos:?}, projection {proj:?}, {layers} layers"));
    }
    Ok(ClipTextConfig {
        width: tok[1],
        layers,
        heads: (tok[1] / 64).max(1),
        context_length: pos[0],
        vocab_size: tok[0],
        embed_dim: proj[1],
    })
}

fn f32_vec(sd: &StateDict, name: &str) -> std::result::Result<(Vec<f32>, Vec<usize>), String> {
    let d = sd.get(name).ok_or_else(|| format!("missing `{name}`"))?;
    let shape = d.shape.to_vec();
    let v = match d.dtype {
        DType::F32 => d.to_vec::<f32>(),
        _ => d.clone().convert::<f32>().to_vec::<f32>(),
    }
    .map_err(|e| format!("`{name}`: {e:?}"))?;
    Ok((v, shape))
}

/// Renames Hugging Face `CLIPModel` text keys to OpenAI's (`q/k/v_proj` packed into `in_proj_*`,
/// `text_projection.weight` [out, in] transposed to `text_projection` [in, out]).
pub fn hf_text_to_openai(sd: &StateDict) -> std::result::Result<StateDict, String> {
    let mut out = StateDict::new();
    let copy = |out: &mut StateDict, from: &str, to: &str| -> std::result::Result<(), String> {
        let d = sd.get(from).ok_or_else(|| format!("missing `{from}`"))?;
        out.insert(to, d.clone().convert::<f32>());
        Ok(())
    };
    copy(
        &mut out,
        "text_model.embeddings.token_embedding.weight",
        "token_embedding.weight",
    )?;
    copy(
        &mut out,
        "text_model.embeddings.position_embedding.weight",
        "positional_embedding",
    )?;
    copy(
        &mut out,
        "text_model.final_layer_norm.weight",
        "ln_final.weight",
    )?;
    copy(
        &mut out,
        "text_model.final_layer_norm.bias",
        "ln_final.bias",
    )?;
    let (w, s) = f32_vec(sd, "text_projection.weight")?;
    let (o, i) = (s[0], s[1]);
    let mut t = vec![0f32; w.len()];
    for r in 0..o {
        for c in 0..i {
            t[c * o + r] = w[r * i + c];
        }
    }
    out.insert("text_projection", TensorData::new(t, [i, o]));
    let mut n = 0;
    while sd
        .get(&format!(
            "text_model.encoder.layers.{n}.self_attn.q_proj.weight"
        ))
        .is_some()
    {
        let h = format!("text_model.encoder.layers.{n}");
        let o = format!("transformer.resblocks.{n}");
        for kind in ["weight", "bias"] {
            let mut packed = Vec::new();
            let mut rows = 0;
            let mut cols = None;
            for p in ["q_proj", "k_proj", "v_proj"] {
                let (v, s) = f32_vec(sd, &format!("{h}.self_attn.{p}.{kind}"))?;
                rows += s[0];
                cols = s.get(1).copied();
                packed.extend(v);
            }
            let data = match cols {
                Some(c) => TensorData::new(packed, [rows, c]),
                None => TensorData::new(packed, [rows]),
            };
            out.insert(format!("{o}.attn.in_proj_{kind}"), data);
            copy(
                &mut out,
                &format!("{h}.self_attn.out_proj.{kind}"),
                &format!("{o}.attn.out_proj.{kind}"),
            )?;
            copy(
                &mut out,
                &format!("{h}.layer_norm1.{kind}"),
                &format!("{o}.ln_1.{kind}"),
            )?;
            copy(
                &mut out,
                &format!("{h}.layer_norm2.{kind}"),
                &format!("{o}.ln_2.{kind}"),
            )?;
            copy(
                &mut out,
                &format!("{h}.mlp.fc1.{kind}"),
                &format!("{o}.mlp.c_fc.{kind}"),
            )?;
            copy(
                &mut out,
                &format!("{h}.mlp.fc2.{kind}"),
                &format!("{o}.mlp.c_proj.{kind}"),
            )?;
        }
        n += 1;
    }
    if n == 0 {
        return Err("no text encoder layers".into());
    }
    Ok(out)
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
        assert_eq!((cfg_hf.width, cfg_hf.layers, cfg_hf.embed_dim), (32, 2, 24));
        let mut n = 0;
        for (k, v) in hf.iter() {
            let w = oa
                .get(k)
                .unwrap_or_else(|| panic!("OpenAI fixture lacks {k}"));
            assert_eq!(v.shape, w.shape, "{k}");
            let a = v.to_vec::<f32>().unwrap();
            let b = w.clone().convert::<f32>().to_vec::<f32>().unwrap();
            assert_eq!(a, b, "{k}");
            n += 1;
        }
        assert!(n >= 20);
    }

    #[test]
    fn class_tokens_are_sot_words_eot() {
        let ids = class_token_ids(&class_names(LabelSet::Xd));
        assert_eq!(ids.len(), 7);
        for row in &ids {
            assert_eq!(row[0], avad_clip::SOT_TOKEN);
            assert_eq!(*row.last().unwrap(), avad_clip::EOT_TOKEN);
        }
        assert_eq!(ids[5].len(), 4, "`car accident` is two BPE tokens");
        assert_eq!(class_names(LabelSet::Ucf).len(), 14);
    }
}
