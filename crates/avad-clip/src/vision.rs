//! CLIP ViT image tower with the visual projection (HF `CLIPVisionModelWithProjection`).

use avad_nn::init::placeholder;
use avad_nn::{LayerNorm, Linear, VisitWeights, WeightMap, WeightVisitor};
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor};

use crate::config::ClipVisionConfig;
use crate::error::ClipError;
use crate::layers::{load_tower, ClipEncoder, StackDims};
use crate::layout::WeightLayout;

/// ViT image encoder: patch conv (as a matmul), class token, positions, pre-LN, blocks, post-LN, projection.
#[derive(Module, Debug)]
pub struct ClipVisionModel<B: Backend> {
    /// Patch conv weight `[D, C, P, P]` (no bias), applied as a matmul on flattened patches.
    pub patch_embedding: Param<Tensor<B, 4>>,
    /// `[D]`.
    pub class_embedding: Param<Tensor<B, 1>>,
    /// `[G·G+1, D]`.
    pub position_embedding: Param<Tensor<B, 2>>,
    /// LN before the blocks (HF spells it `pre_layrnorm`).
    pub pre_layrnorm: LayerNorm<B>,
    /// Transformer blocks.
    pub encoder: ClipEncoder<B>,
    /// LN on the class token.
    pub post_layernorm: LayerNorm<B>,
    /// `[proj, D]`, no bias.
    pub visual_projection: Linear<B>,
    /// Channels.
    pub num_channels: usize,
    /// Input side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
}

impl<B: Backend> VisitWeights for ClipVisionModel<B> {
    /// Hugging Face `CLIPModel` keys.
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.scope("vision_model", |v| {
            v.scope("embeddings", |v| {
                v.param("patch_embedding.weight", &mut self.patch_embedding);
                v.param("class_embedding", &mut self.class_embedding);
                v.param("position_embedding.weight", &mut self.position_embedding);
            });
            v.nested("pre_layrnorm", &mut self.pre_layrnorm);
            v.nested("encoder", &mut self.encoder);
            v.nested("post_layernorm", &mut self.post_layernorm);
        });
        v.nested("visual_projection", &mut self.visual_projection);
    }
}

impl<B: Backend> ClipVisionModel<B> {
    /// A skeleton of `cfg`'s shape (allocates nothing until loaded or read).
    pub fn placeholder(
        cfg: &ClipVisionConfig,
        projection_dim: usize,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let d = cfg.hidden_size;
        let (c, p) = (cfg.num_channels, cfg.patch_size);
        let dims = StackDims::new(
            d,
            cfg.intermediate_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            &cfg.hidden_act,
            cfg.layer_norm_eps,
        )?;
        Ok(Self {
            patch_embedding: placeholder([d, c, p, p], device),
            class_embedding: placeholder([d], device),
            position_embedding: placeholder([cfg.num_positions(), d], device),
            pre_layrnorm: LayerNorm::placeholder(d, cfg.layer_norm_eps, device),
            encoder: ClipEncoder::placeholder(dims, device),
            post_layernorm: LayerNorm::placeholder(d, cfg.layer_norm_eps, device),
            visual_projection: Linear::placeholder(d, projection_dim, false, device),
            num_channels: c,
            image_size: cfg.image_size,
            patch_size: p,
        })
    }

    /// Loads the image tower from weights in either layout. `prefix` is prepended to every key (e.g.
    /// `"clipmodel."`); keys of other towers are ignored.
    pub fn from_weights(
        w: &WeightMap,
        cfg: &ClipVisionConfig,
        projection_dim: usize,
        layout: WeightLayout,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        load_tower(
            Self::placeholder(cfg, projection_dim, device)?,
            w,
            layout,
            prefix,
        )
    }

    /// Class-token features after `post_layernorm`, before the projection: `[B, C, H, W] → [B, D]`.
    pub fn pooled(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 2>, ClipError> {
        let [b, c, h, w] = pixels.dims();
        if c != self.num_channels || h != self.image_size || w != self.image_size {
            return Err(ClipError::Input(format!(
                "pixels have shape [{b}, {c}, {h}, {w}], expected [B, {}, {s}, {s}]",
                self.num_channels,
                s = self.image_size
            )));
        }
        if b == 0 {
            return Err(ClipError::Input("empty image batch".into()));
        }
        let p = self.patch_size;
        let g = self.image_size / p;
        let d = self.class_embedding.dims()[0];
        // Patchify: [B, C, G, P, G, P] → [B, G, G, C, P, P] → [B·G·G, C·P·P] (the conv's input order).
        let patches = pixels
            .reshape([b, c, g, p, g, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b * g * g, c * p * p]);
        let conv = self.patch_embedding.val().reshape([d, c * p * p]); // [D, C·P·P]
        let x = patches.matmul(conv.transpose()).reshape([b, g * g, d]); // [B, G·G, D]
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, d])
            .expand([b, 1, d]);
        let x = Tensor::cat(vec![cls, x], 1); // [B, S, D]
        let x = x + self.position_embedding.val().unsqueeze_dim::<3>(0);
        let x = self.pre_layrnorm.forward(x);
        let x = self.encoder.forward(x, None);
        let cls = x.narrow(1, 0, 1).reshape([b, d]); // [B, D]
        Ok(self.post_layernorm.forward(cls))
    }

    /// Projected image embeddings (HF `get_image_features`, not normalised): `[B, C, H, W] → [B, proj]`.
    pub fn forward(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 2>, ClipError> {
        Ok(self.visual_projection.forward(self.pooled(pixels)?))
    }
}
