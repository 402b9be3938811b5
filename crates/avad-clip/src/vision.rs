//! CLIP ViT image tower with the visual projection (HF `CLIPVisionModelWithProjection`).

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor};

use crate::config::{Activation, ClipVisionConfig};
use crate::error::ClipError;
use crate::layers::{Encoder, LayerNorm, Linear, Loader, StackDims, WeightLayout};
use crate::weights::{to_tensor, transpose, WeightMap};

/// ViT image encoder: patch conv (as a matmul), class token, positions, pre-LN, blocks, post-LN, projection.
#[derive(Module, Debug)]
pub struct ClipVisionModel<B: Backend> {
    /// Patch conv as a matrix `[C·P·P, D]` (conv weight `[D, C, P, P]` flattened and transposed; no bias).
    pub patch_embedding: Param<Tensor<B, 2>>,
    /// `[D]`.
    pub class_embedding: Param<Tensor<B, 1>>,
    /// `[G·G+1, D]`.
    pub position_embedding: Param<Tensor<B, 2>>,
    /// LN before the blocks (HF spells it `pre_layrnorm`).
    pub pre_layrnorm: LayerNorm<B>,
    /// Transformer blocks.
    pub encoder: Encoder<B>,
    /// LN on the class token.
    pub post_layernorm: LayerNorm<B>,
    /// `[D, proj]`, no bias.
    pub visual_projection: Linear<B>,
    /// Channels.
    pub num_channels: usize,
    /// Input side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
}

impl<B: Backend> ClipVisionModel<B> {
    /// Loads the image tower. `prefix` is prepended to every key (e.g. `"clipmodel."`).
    pub fn from_weights(
        w: &WeightMap,
        cfg: &ClipVisionConfig,
        projection_dim: usize,
        layout: WeightLayout,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let ld = Loader::<B> { w, dev: device };
        let d = cfg.hidden_size;
        let (c, p) = (cfg.num_channels, cfg.patch_size);
        let npos = cfg.num_positions();
        let dims = StackDims {
            width: d,
            inter: cfg.intermediate_size,
            layers: cfg.num_hidden_layers,
            heads: cfg.num_attention_heads,
            act: Activation::from_hf(&cfg.hidden_act)?,
            eps: cfg.layer_norm_eps,
        };
        let pf = prefix;
        let (conv, cls, pos, pre, enc, post, proj) = match layout {
            WeightLayout::HuggingFace => {
                let v = format!("{pf}vision_model.");
                (
                    format!("{v}embeddings.patch_embedding.weight"),
                    format!("{v}embeddings.class_embedding"),
                    format!("{v}embeddings.position_embedding.weight"),
                    ld.layer_norm(&format!("{v}pre_layrnorm."), d, dims.eps)?,
                    ld.encoder(&format!("{v}encoder."), dims, layout)?,
                    ld.layer_norm(&format!("{v}post_layernorm."), d, dims.eps)?,
                    ld.linear_out_in(&format!("{pf}visual_projection."), d, projection_dim, false)?,
                )
            }
            WeightLayout::OpenAi => {
                let v = format!("{pf}visual.");
                (
                    format!("{v}conv1.weight"),
                    format!("{v}class_embedding"),
                    format!("{v}positional_embedding"),
                    ld.layer_norm(&format!("{v}ln_pre."), d, dims.eps)?,
                    ld.encoder(&format!("{v}transformer."), dims, layout)?,
                    ld.layer_norm(&format!("{v}ln_post."), d, dims.eps)?,
                    ld.linear_in_out(&format!("{v}proj"), d, projection_dim)?,
                )
            }
        };
        let conv_w = ld.raw(&conv, &[d, c, p, p])?; // [D, C*P*P] row-major
        Ok(Self {
            patch_embedding: Param::from_tensor(to_tensor(
                transpose(&conv_w, d, c * p * p),
                [c * p * p, d],
                device,
            )),
            class_embedding: ld.param(&cls, [d])?,
            position_embedding: ld.param(&pos, [npos, d])?,
            pre_layrnorm: pre,
            encoder: enc,
            post_layernorm: post,
            visual_projection: proj,
            num_channels: c,
            image_size: cfg.image_size,
            patch_size: p,
        })
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
        let x = patches
            .matmul(self.patch_embedding.val())
            .reshape([b, g * g, d]); // [B, G·G, D]
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
        Ok(self.visual_projection.forward2(self.pooled(pixels)?))
    }
}
