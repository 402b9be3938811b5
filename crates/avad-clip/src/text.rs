//! CLIP text tower with the text projection (HF `CLIPTextModelWithProjection`), usable on its own.
//!
//! Two entry points: token ids (`[C, L]`, EOT = position of the largest id, as HF/OpenAI for the original vocab) and
//! token **embeddings** plus explicit EOT positions (for learnable CoOp-style prompts, spec §1.4).

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::config::{Activation, ClipTextConfig};
use crate::error::ClipError;
use crate::layers::{Encoder, LayerNorm, Linear, Loader, StackDims, WeightLayout};
use crate::weights::WeightMap;

/// Text transformer: token + position embeddings, causal pre-LN blocks, final LN, EOT pooling, projection.
#[derive(Module, Debug)]
pub struct ClipTextModel<B: Backend> {
    /// `[V, D]` token embedding table.
    pub token_embedding: Param<Tensor<B, 2>>,
    /// `[L, D]` learned positions (L = 77).
    pub position_embedding: Param<Tensor<B, 2>>,
    /// Causal transformer blocks.
    pub encoder: Encoder<B>,
    /// LN after the blocks (OpenAI `ln_final`).
    pub final_layer_norm: LayerNorm<B>,
    /// `[D, proj]`, no bias.
    pub text_projection: Linear<B>,
}

impl<B: Backend> ClipTextModel<B> {
    /// Loads the text tower. `prefix` is prepended to every key (e.g. `"clipmodel."` for VadCLIP checkpoints).
    pub fn from_weights(
        w: &WeightMap,
        cfg: &ClipTextConfig,
        projection_dim: usize,
        layout: WeightLayout,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let ld = Loader::<B> { w, dev: device };
        let d = cfg.hidden_size;
        let dims = StackDims {
            width: d,
            inter: cfg.intermediate_size,
            layers: cfg.num_hidden_layers,
            heads: cfg.num_attention_heads,
            act: Activation::from_hf(&cfg.hidden_act)?,
            eps: cfg.layer_norm_eps,
        };
        let (v, l) = (cfg.vocab_size, cfg.max_position_embeddings);
        let pf = prefix;
        Ok(match layout {
            WeightLayout::HuggingFace => {
                let t = format!("{pf}text_model.");
                Self {
                    token_embedding: ld
                        .param(&format!("{t}embeddings.token_embedding.weight"), [v, d])?,
                    position_embedding: ld
                        .param(&format!("{t}embeddings.position_embedding.weight"), [l, d])?,
                    encoder: ld.encoder(&format!("{t}encoder."), dims, layout)?,
                    final_layer_norm: ld.layer_norm(
                        &format!("{t}final_layer_norm."),
                        d,
                        dims.eps,
                    )?,
                    text_projection: ld.linear_out_in(
                        &format!("{pf}text_projection."),
                        d,
                        projection_dim,
                        false,
                    )?,
                }
            }
            WeightLayout::OpenAi => Self {
                token_embedding: ld.param(&format!("{pf}token_embedding.weight"), [v, d])?,
                position_embedding: ld.param(&format!("{pf}positional_embedding"), [l, d])?,
                encoder: ld.encoder(&format!("{pf}transformer."), dims, layout)?,
                final_layer_norm: ld.layer_norm(&format!("{pf}ln_final."), d, dims.eps)?,
                text_projection: ld.linear_in_out(
                    &format!("{pf}text_projection"),
                    d,
                    projection_dim,
                )?,
            },
        })
    }

    /// Transformer width D.
    pub fn width(&self) -> usize {
        self.token_embedding.dims()[1]
    }

    /// Vocabulary size V.
    pub fn vocab_size(&self) -> usize {
        self.token_embedding.dims()[0]
    }

    /// Context length (rows of the position table, 77).
    pub fn context_length(&self) -> usize {
        self.position_embedding.dims()[0]
    }

    /// Looks up token embeddings: ids `[C, L]` → `[C, L, D]` (differentiable w.r.t. nothing but the table).
    pub fn token_embedding(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>, ClipError> {
        let [c, l] = ids.dims();
        let v = self.vocab_size();
        let host = ids_to_host(&ids);
        if let Some(bad) = host.iter().find(|&&x| x < 0 || x as usize >= v) {
            return Err(ClipError::Input(format!(
                "token id {bad} out of range for vocabulary of {v}"
            )));
        }
        let d = self.width();
        Ok(self
            .token_embedding
            .val()
            .select(0, ids.reshape([c * l]))
            .reshape([c, l, d]))
    }

    /// Text features from token ids `[C, L]` (L ≤ 77): EOT = first position of each row's largest id.
    pub fn encode_ids(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 2>, ClipError> {
        let [c, l] = ids.dims();
        let host = ids_to_host(&ids);
        let eot: Vec<usize> = (0..c)
            .map(|i| {
                let row = &host[i * l..(i + 1) * l];
                let mut best = 0;
                for (j, &x) in row.iter().enumerate() {
                    if x > row[best] {
                        best = j;
                    }
                }
                best
            })
            .collect();
        let emb = self.token_embedding(ids)?;
        self.encode_embeddings(emb, &eot)
    }

    /// Text features from input embeddings `[C, L, D]` (L ≤ 77) and one EOT position per row: adds the position
    /// embedding, runs the causal blocks, applies the final LN, takes row `eot[c]` and projects → `[C, proj]`.
    /// Gradients flow to `embeds` (freeze the weights with `Module::no_grad`).
    pub fn encode_embeddings(
        &self,
        embeds: Tensor<B, 3>,
        eot: &[usize],
    ) -> Result<Tensor<B, 2>, ClipError> {
        let [c, l, d] = embeds.dims();
        if d != self.width() {
            return Err(ClipError::Input(format!(
                "text embeddings have width {d}, the model has {}",
                self.width()
            )));
        }
        if l == 0 || l > self.context_length() {
            return Err(ClipError::Input(format!(
                "text length {l} outside 1..={}",
                self.context_length()
            )));
        }
        if eot.len() != c {
            return Err(ClipError::Input(format!(
                "{} EOT positions for {c} sequences",
                eot.len()
            )));
        }
        if let Some(&bad) = eot.iter().find(|&&e| e >= l) {
            return Err(ClipError::Input(format!(
                "EOT position {bad} outside a sequence of {l}"
            )));
        }
        let device = embeds.device();
        let pos = self.position_embedding.val().narrow(0, 0, l); // [L, D]
        let x = embeds + pos.unsqueeze_dim::<3>(0);
        let mask = causal_mask::<B>(l, &device); // [1, 1, L, L]
        let x = self.encoder.forward(x, Some(mask));
        let x = self.final_layer_norm.forward(x); // [C, L, D]
        let idx: Vec<i64> = eot
            .iter()
            .enumerate()
            .map(|(i, &e)| (i * l + e) as i64)
            .collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [c]), &device);
        let pooled = x.reshape([c * l, d]).select(0, idx); // [C, D]
        Ok(self.text_projection.forward2(pooled))
    }
}

/// Additive causal mask `[1, 1, L, L]`: 0 on and below the diagonal, `f32::MIN` (HF's `finfo.min`) above.
pub fn causal_mask<B: Backend>(l: usize, device: &B::Device) -> Tensor<B, 4> {
    let mut m = vec![0f32; l * l];
    for i in 0..l {
        for j in i + 1..l {
            m[i * l + j] = f32::MIN;
        }
    }
    Tensor::from_data(TensorData::new(m, [1, 1, l, l]), device)
}

fn ids_to_host<B: Backend>(ids: &Tensor<B, 2, Int>) -> Vec<i64> {
    ids.to_data().iter::<i64>().collect()
}
