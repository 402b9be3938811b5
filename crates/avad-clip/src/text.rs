//! CLIP text tower with the text projection (HF `CLIPTextModelWithProjection`), usable on its own.
//!
//! Two entry points: token ids (`[C, L]`, EOT = position of the largest id, as HF/OpenAI for the original vocab) and
//! token **embeddings** plus explicit EOT positions (for learnable CoOp-style prompts, VadCLIP `src/model.py: encode_textprompt`).

use avad_nn::init::placeholder;
use avad_nn::{causal_mask, LayerNorm, Linear, VisitWeights, WeightMap, WeightVisitor};
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::config::ClipTextConfig;
use crate::error::ClipError;
use crate::layers::{load_tower, ClipEncoder, StackDims};
use crate::layout::WeightLayout;

/// Text transformer: token + position embeddings, causal pre-LN blocks, final LN, EOT pooling, projection.
#[derive(Module, Debug)]
pub struct ClipTextModel<B: Backend> {
    /// `[V, D]` token embedding table.
    pub token_embedding: Param<Tensor<B, 2>>,
    /// `[L, D]` learned positions (L = 77).
    pub position_embedding: Param<Tensor<B, 2>>,
    /// Causal transformer blocks.
    pub encoder: ClipEncoder<B>,
    /// LN after the blocks (OpenAI `ln_final`).
    pub final_layer_norm: LayerNorm<B>,
    /// `[proj, D]`, no bias.
    pub text_projection: Linear<B>,
}

impl<B: Backend> VisitWeights for ClipTextModel<B> {
    /// Hugging Face `CLIPModel` keys.
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.scope("text_model", |v| {
            v.param(
                "embeddings.token_embedding.weight",
                &mut self.token_embedding,
            );
            v.param(
                "embeddings.position_embedding.weight",
                &mut self.position_embedding,
            );
            v.nested("encoder", &mut self.encoder);
            v.nested("final_layer_norm", &mut self.final_layer_norm);
        });
        v.nested("text_projection", &mut self.text_projection);
    }
}

impl<B: Backend> ClipTextModel<B> {
    /// A skeleton of `cfg`'s shape (allocates nothing until loaded or read).
    pub fn placeholder(
        cfg: &ClipTextConfig,
        projection_dim: usize,
        device: &B::Device,
    ) -> Result<Self, ClipError> {
        let d = cfg.hidden_size;
        let dims = StackDims::new(
            d,
            cfg.intermediate_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            &cfg.hidden_act,
            cfg.layer_norm_eps,
        )?;
        Ok(Self {
            token_embedding: placeholder([cfg.vocab_size, d], device),
            position_embedding: placeholder([cfg.max_position_embeddings, d], device),
            encoder: ClipEncoder::placeholder(dims, device),
            final_layer_norm: LayerNorm::placeholder(d, cfg.layer_norm_eps, device),
            text_projection: Linear::placeholder(d, projection_dim, false, device),
        })
    }

    /// Loads the text tower from weights in either layout. `prefix` is prepended to every key (e.g.
    /// `"clipmodel."` for VadCLIP checkpoints); keys of other towers are ignored.
    pub fn from_weights(
        w: &WeightMap,
        cfg: &ClipTextConfig,
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
        Ok(self.text_projection.forward(pooled))
    }
}

fn ids_to_host<B: Backend>(ids: &Tensor<B, 2, Int>) -> Vec<i64> {
    ids.to_data().iter::<i64>().collect()
}
