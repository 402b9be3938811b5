//! The two weight namings of CLIP and the conversions between them. avad's modules carry the Hugging Face
//! `CLIPModel` names; OpenAI's `clip` package names (which VadCLIP / AVadCLIP checkpoints store under `clipmodel.`)
//! are converted on the way in ([`openai_to_hf`]) and, for the text tower, on the way out ([`hf_text_to_openai`]).
//!
//! | OpenAI | Hugging Face |
//! |---|---|
//! | `token_embedding.weight`, `positional_embedding` | `text_model.embeddings.{token,position}_embedding.weight` |
//! | `transformer.resblocks.N.attn.in_proj_{weight,bias}` (q, k, v stacked) | `….layers.N.self_attn.{q,k,v}_proj.*` |
//! | `….attn.out_proj`, `ln_1`, `ln_2`, `mlp.c_fc`, `mlp.c_proj` | `self_attn.out_proj`, `layer_norm1`, `layer_norm2`, `mlp.fc1`, `mlp.fc2` |
//! | `ln_final`, `text_projection` `[D, proj]` | `text_model.final_layer_norm`, `text_projection.weight` `[proj, D]` |
//! | `visual.conv1.weight`, `visual.class_embedding`, `visual.positional_embedding` | `vision_model.embeddings.{patch_embedding.weight, class_embedding, position_embedding.weight}` |
//! | `visual.ln_pre`, `visual.transformer.…`, `visual.ln_post`, `visual.proj` `[D, proj]` | `vision_model.pre_layrnorm`, `vision_model.encoder.…`, `vision_model.post_layernorm`, `visual_projection.weight` `[proj, D]` |

use avad_nn::WeightMap;
use burn::tensor::TensorData;

use crate::error::ClipError;

/// Which naming scheme a weight file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// Hugging Face `CLIPModel` (`vision_model.encoder.layers.N.self_attn.q_proj.weight`, …).
    HuggingFace,
    /// OpenAI `clip` package state dict (`visual.transformer.resblocks.N.attn.in_proj_weight`, …).
    OpenAi,
}

/// Which layout the keys under `prefix` follow, probing the token embedding and the patch embedding.
pub fn detect_layout(w: &WeightMap, prefix: &str) -> Option<WeightLayout> {
    let has = |k: &str| w.contains(&format!("{prefix}{k}"));
    if has("text_model.embeddings.token_embedding.weight")
        || has("vision_model.embeddings.patch_embedding.weight")
    {
        Some(WeightLayout::HuggingFace)
    } else if has("token_embedding.weight") || has("visual.conv1.weight") {
        Some(WeightLayout::OpenAi)
    } else {
        None
    }
}

/// The keys under `prefix` with Hugging Face names and the prefix removed, whichever layout `w` uses.
pub fn to_hf(w: &WeightMap, prefix: &str, layout: WeightLayout) -> Result<WeightMap, ClipError> {
    let bare = w.with_prefix_stripped(prefix);
    match layout {
        WeightLayout::HuggingFace => Ok(bare),
        WeightLayout::OpenAi => openai_to_hf(&bare),
    }
}

/// Renames OpenAI-named CLIP weights (no prefix) to Hugging Face names, splitting the stacked q/k/v projections and
/// transposing the two projection matrices. Keys it does not know are kept as they are.
pub fn openai_to_hf(w: &WeightMap) -> Result<WeightMap, ClipError> {
    let mut out = WeightMap::with_source(w.source());
    for (key, data) in w.iter() {
        let (tower, rest) = match key.strip_prefix("visual.") {
            Some(r) => ("vision_model", r),
            None => ("text_model", key),
        };
        if let Some(block) = rest.strip_prefix("transformer.resblocks.") {
            let (i, name) = block.split_once('.').unwrap_or((block, ""));
            let p = format!("{tower}.encoder.layers.{i}.");
            if let Some(which) = name.strip_prefix("attn.in_proj_") {
                split_qkv(&mut out, w, key, &format!("{p}self_attn."), which)?;
            } else {
                let hf = match name {
                    n if n.starts_with("attn.out_proj.") => n.replacen("attn.", "self_attn.", 1),
                    n if n.starts_with("ln_1.") => n.replacen("ln_1.", "layer_norm1.", 1),
                    n if n.starts_with("ln_2.") => n.replacen("ln_2.", "layer_norm2.", 1),
                    n if n.starts_with("mlp.c_fc.") => n.replacen("mlp.c_fc.", "mlp.fc1.", 1),
                    n if n.starts_with("mlp.c_proj.") => n.replacen("mlp.c_proj.", "mlp.fc2.", 1),
                    n => n.to_string(),
                };
                out.insert(format!("{p}{hf}"), data.clone());
            }
            continue;
        }
        let renamed = match key {
            "token_embedding.weight" => "text_model.embeddings.token_embedding.weight",
            "positional_embedding" => "text_model.embeddings.position_embedding.weight",
            "ln_final.weight" => "text_model.final_layer_norm.weight",
            "ln_final.bias" => "text_model.final_layer_norm.bias",
            "visual.conv1.weight" => "vision_model.embeddings.patch_embedding.weight",
            "visual.class_embedding" => "vision_model.embeddings.class_embedding",
            "visual.positional_embedding" => "vision_model.embeddings.position_embedding.weight",
            "visual.ln_pre.weight" => "vision_model.pre_layrnorm.weight",
            "visual.ln_pre.bias" => "vision_model.pre_layrnorm.bias",
            "visual.ln_post.weight" => "vision_model.post_layernorm.weight",
            "visual.ln_post.bias" => "vision_model.post_layernorm.bias",
            "text_projection" => {
                out.insert("text_projection.weight", transposed(w, key)?);
                continue;
            }
            "visual.proj" => {
                out.insert("visual_projection.weight", transposed(w, key)?);
                continue;
            }
            other => other,
        };
        out.insert(renamed, data.clone());
    }
    Ok(out)
}

/// The text tower of Hugging Face-named weights (no prefix) under OpenAI's names, as VadCLIP checkpoints store it
/// (q/k/v stacked into `in_proj_*`, `text_projection` as `[D, proj]`). Vision keys are left out.
pub fn hf_text_to_openai(w: &WeightMap) -> Result<WeightMap, ClipError> {
    let mut out = WeightMap::with_source(w.source());
    let layers = w.count_blocks("text_model.encoder.layers.", "self_attn.q_proj.weight");
    for (key, data) in w.iter() {
        let renamed = match key {
            "text_model.embeddings.token_embedding.weight" => "token_embedding.weight".to_string(),
            "text_model.embeddings.position_embedding.weight" => "positional_embedding".to_string(),
            "text_model.final_layer_norm.weight" => "ln_final.weight".to_string(),
            "text_model.final_layer_norm.bias" => "ln_final.bias".to_string(),
            "text_projection.weight" => {
                out.insert("text_projection", transposed(w, key)?);
                continue;
            }
            k => match k.strip_prefix("text_model.encoder.layers.") {
                Some(block) => {
                    let (i, name) = block.split_once('.').unwrap_or((block, ""));
                    let p = format!("transformer.resblocks.{i}.");
                    let n = match name {
                        n if n.starts_with("self_attn.q_proj.")
                            || n.starts_with("self_attn.k_proj.")
                            || n.starts_with("self_attn.v_proj.") =>
                        {
                            continue
                        }
                        n if n.starts_with("self_attn.out_proj.") => {
                            n.replacen("self_attn.", "attn.", 1)
                        }
                        n if n.starts_with("layer_norm1.") => {
                            n.replacen("layer_norm1.", "ln_1.", 1)
                        }
                        n if n.starts_with("layer_norm2.") => {
                            n.replacen("layer_norm2.", "ln_2.", 1)
                        }
                        n if n.starts_with("mlp.fc1.") => n.replacen("mlp.fc1.", "mlp.c_fc.", 1),
                        n if n.starts_with("mlp.fc2.") => n.replacen("mlp.fc2.", "mlp.c_proj.", 1),
                        n => n.to_string(),
                    };
                    format!("{p}{n}")
                }
                None => continue,
            },
        };
        out.insert(renamed, data.clone());
    }
    for i in 0..layers {
        let p = format!("text_model.encoder.layers.{i}.self_attn.");
        for which in ["weight", "bias"] {
            let mut values = Vec::new();
            let mut shape = Vec::new();
            for qkv in ["q_proj", "k_proj", "v_proj"] {
                let key = format!("{p}{qkv}.{which}");
                let s = w
                    .shape(&key)
                    .ok_or_else(|| ClipError::Weights(w.missing(&key)))?;
                values.extend(w.f32_values(&key)?);
                shape = s;
            }
            shape[0] *= 3;
            out.insert_f32(
                format!("transformer.resblocks.{i}.attn.in_proj_{which}"),
                shape,
                values,
            );
        }
    }
    Ok(out)
}

/// Splits the stacked `in_proj_{weight,bias}` (`[3D, D]` / `[3D]`) into q, k and v.
fn split_qkv(
    out: &mut WeightMap,
    w: &WeightMap,
    key: &str,
    attn: &str,
    which: &str,
) -> Result<(), ClipError> {
    let shape = w.shape(key).unwrap_or_default();
    let values = w.f32_values(key)?;
    if shape.is_empty() || !shape[0].is_multiple_of(3) {
        return Err(ClipError::Input(format!(
            "{}: `{key}` has shape {shape:?}, not 3·D rows",
            w.source()
        )));
    }
    let mut part_shape = shape.clone();
    part_shape[0] /= 3;
    let n = values.len() / 3;
    for (k, name) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
        out.insert_f32(
            format!("{attn}{name}.{which}"),
            part_shape.clone(),
            values[k * n..(k + 1) * n].to_vec(),
        );
    }
    Ok(())
}

/// A 2-D tensor transposed (f32).
fn transposed(w: &WeightMap, key: &str) -> Result<TensorData, ClipError> {
    let shape = w.shape(key).unwrap_or_default();
    let [rows, cols] = shape[..] else {
        return Err(ClipError::Input(format!(
            "{}: `{key}` has shape {shape:?}, expected a matrix",
            w.source()
        )));
    };
    let v = w.f32_values(key)?;
    let mut t = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    Ok(TensorData::new(t, [cols, rows]))
}
