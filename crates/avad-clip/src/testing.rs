//! Seeded random-weight CLIP models for benchmarks and tests (timing only: the weights carry no knowledge).
//!
//! The weights are drawn in the Hugging Face layout and go through the ordinary loaders, so a random model runs
//! exactly the code a real one does.

use burn::tensor::backend::Backend;

use crate::config::ClipConfig;
use crate::error::ClipError;
use avad_nn::WeightMap;

use crate::layout::WeightLayout;
use crate::model::ClipModel;
use crate::vision::ClipVisionModel;

/// The sizes of OpenAI's ViT-B/16 CLIP (`openai/clip-vit-base-patch16`): image tower width 768, 12 layers,
/// 12 heads, patch 16 on 224², text tower width 512, 12 layers, 8 heads, projection 512, quick_gelu.
pub fn vit_b16_config() -> ClipConfig {
    let mut cfg: ClipConfig = serde_json::from_str("{}").expect("the defaults deserialize");
    cfg.vision_config.patch_size = 16;
    cfg
}

/// A small configuration (image tower width 64, 1 layer, 32² images; text tower width 32, 1 layer) for tests.
pub fn tiny_config() -> ClipConfig {
    let mut cfg = vit_b16_config();
    let v = &mut cfg.vision_config;
    (v.hidden_size, v.intermediate_size, v.num_hidden_layers) = (64, 128, 1);
    (v.num_attention_heads, v.image_size, v.patch_size) = (2, 32, 16);
    let t = &mut cfg.text_config;
    (t.hidden_size, t.intermediate_size, t.num_hidden_layers) = (32, 64, 1);
    t.num_attention_heads = 2;
    cfg.projection_dim = 32;
    cfg
}

/// Fills `WeightMap`s with reproducible values: matrices ~ ±1/√fan_in, LayerNorm gains near 1, other vectors
/// near 0 (sum of four uniforms from a 64-bit LCG, so no extra dependency).
struct Filler {
    state: u64,
}

impl Filler {
    fn next(&mut self) -> f32 {
        let mut s = 0.0f32;
        for _ in 0..4 {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            s += ((self.state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        }
        s
    }

    fn put(&mut self, w: &mut WeightMap, name: String, shape: Vec<usize>) {
        let n: usize = shape.iter().product();
        let (base, scale) = match shape.as_slice() {
            [_] if name.ends_with("norm.weight")
                || name.ends_with("norm1.weight")
                || name.ends_with("norm2.weight") =>
            {
                (1.0, 0.1)
            }
            [_] => (0.0, 0.1),
            [.., last] => (0.0, 1.0 / (*last as f32).sqrt()),
            [] => (0.0, 0.1),
        };
        let data = (0..n).map(|_| base + scale * self.next()).collect();
        w.insert_f32(name, shape, data);
    }

    /// `{p}encoder.layers.{i}.…` of one transformer stack.
    fn stack(&mut self, w: &mut WeightMap, p: &str, d: usize, inter: usize, layers: usize) {
        for l in 0..layers {
            let q = format!("{p}encoder.layers.{l}.");
            for lin in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                self.put(w, format!("{q}self_attn.{lin}.weight"), vec![d, d]);
                self.put(w, format!("{q}self_attn.{lin}.bias"), vec![d]);
            }
            self.put(w, format!("{q}mlp.fc1.weight"), vec![inter, d]);
            self.put(w, format!("{q}mlp.fc1.bias"), vec![inter]);
            self.put(w, format!("{q}mlp.fc2.weight"), vec![d, inter]);
            self.put(w, format!("{q}mlp.fc2.bias"), vec![d]);
            for ln in ["layer_norm1", "layer_norm2"] {
                self.put(w, format!("{q}{ln}.weight"), vec![d]);
                self.put(w, format!("{q}{ln}.bias"), vec![d]);
            }
        }
    }
}

/// Seeded random weights for `cfg` under Hugging Face `CLIPModel` names: the image tower and
/// `visual_projection`, plus the text tower and `text_projection` when `with_text`.
pub fn random_hf_weights(cfg: &ClipConfig, with_text: bool, seed: u64) -> WeightMap {
    let mut f = Filler {
        state: seed ^ 0x5DEE_CE66_D1CE_4E5B,
    };
    let mut w = WeightMap::with_source(format!("random CLIP weights (seed {seed})"));
    let v = &cfg.vision_config;
    let (d, c, p) = (v.hidden_size, v.num_channels, v.patch_size);
    let vp = "vision_model.";
    f.put(
        &mut w,
        format!("{vp}embeddings.patch_embedding.weight"),
        vec![d, c, p, p],
    );
    f.put(&mut w, format!("{vp}embeddings.class_embedding"), vec![d]);
    f.put(
        &mut w,
        format!("{vp}embeddings.position_embedding.weight"),
        vec![v.num_positions(), d],
    );
    for ln in ["pre_layrnorm", "post_layernorm"] {
        f.put(&mut w, format!("{vp}{ln}.weight"), vec![d]);
        f.put(&mut w, format!("{vp}{ln}.bias"), vec![d]);
    }
    f.stack(&mut w, vp, d, v.intermediate_size, v.num_hidden_layers);
    f.put(
        &mut w,
        "visual_projection.weight".into(),
        vec![cfg.projection_dim, d],
    );
    if with_text {
        let t = &cfg.text_config;
        let tp = "text_model.";
        f.put(
            &mut w,
            format!("{tp}embeddings.token_embedding.weight"),
            vec![t.vocab_size, t.hidden_size],
        );
        f.put(
            &mut w,
            format!("{tp}embeddings.position_embedding.weight"),
            vec![t.max_position_embeddings, t.hidden_size],
        );
        f.stack(
            &mut w,
            tp,
            t.hidden_size,
            t.intermediate_size,
            t.num_hidden_layers,
        );
        f.put(
            &mut w,
            format!("{tp}final_layer_norm.weight"),
            vec![t.hidden_size],
        );
        f.put(
            &mut w,
            format!("{tp}final_layer_norm.bias"),
            vec![t.hidden_size],
        );
        f.put(
            &mut w,
            "text_projection.weight".into(),
            vec![cfg.projection_dim, t.hidden_size],
        );
    }
    w
}

/// A seeded random-weight image tower (HF `CLIPVisionModelWithProjection`) of `cfg`'s vision shape.
pub fn random_vision_model<B: Backend>(
    cfg: &ClipConfig,
    seed: u64,
    device: &B::Device,
) -> Result<ClipVisionModel<B>, ClipError> {
    cfg.validate()?;
    let w = random_hf_weights(cfg, false, seed);
    ClipVisionModel::from_weights(
        &w,
        &cfg.vision_config,
        cfg.projection_dim,
        WeightLayout::HuggingFace,
        "",
        device,
    )
}

/// A seeded random-weight CLIP model (both towers) of shape `cfg`.
pub fn random_model<B: Backend>(
    cfg: &ClipConfig,
    seed: u64,
    device: &B::Device,
) -> Result<ClipModel<B>, ClipError> {
    cfg.validate()?;
    let w = random_hf_weights(cfg, true, seed);
    ClipModel::from_weights(&w, cfg, WeightLayout::HuggingFace, "", device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    type B = burn_flex::Flex;

    #[test]
    fn random_models_run_and_depend_on_the_seed() {
        let dev = Default::default();
        let cfg = tiny_config();
        let px = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
        let embed = |seed| -> Vec<f32> {
            random_vision_model::<B>(&cfg, seed, &dev)
                .unwrap()
                .forward(px.clone())
                .unwrap()
                .into_data()
                .to_vec()
                .unwrap()
        };
        let (a, a2, b) = (embed(1), embed(1), embed(2));
        assert_eq!(a.len(), 2 * 32);
        assert!(a.iter().all(|x| x.is_finite()));
        assert_eq!(a, a2, "same seed, same weights");
        assert_ne!(a, b, "another seed, other weights");
        // The image tower's weights are drawn first, so the full model of the same seed has the same ones.
        let full = random_model::<B>(&cfg, 1, &dev).unwrap();
        let via_full: Vec<f32> = full.encode_image(px).unwrap().into_data().to_vec().unwrap();
        assert_eq!(via_full, a);
    }
}
