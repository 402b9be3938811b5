//! The frozen CLIP text tower as VadCLIP uses it (`src/clip/model.py: encode_token`, `encode_text(emb, tokens)`):
//! token embeddings in, prompt embeddings through the causal transformer, EOT row projected out.
//!
//! Keys are OpenAI CLIP's under the `clipmodel.` prefix (`token_embedding.weight`, `positional_embedding`,
//! `transformer.resblocks.N.*`, `ln_final.*`, `text_projection`). This is the model crate's own copy of the text
//! tower, sized by [`ClipTextConfig`] so that the reduced-size parity fixtures load; it shares its blocks with the
//! temporal transformer (the same `ResidualAttentionBlock`).

use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::nn::{normal, LayerNorm};
use crate::state::{key, put, Loader, StateDict};
use crate::temporal::{AttentionPattern, Transformer};

/// Token id of `<|startoftext|>`.
pub const SOT_TOKEN: u32 = 49406;
/// Token id of `<|endoftext|>` (the largest id, so `argmax` finds it).
pub const EOT_TOKEN: u32 = 49407;

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

/// CLIP text encoder: token embedding table, positional embedding, causal transformer, `ln_final`, projection.
#[derive(Module, Debug)]
pub struct ClipTextTower<B: Backend> {
    /// [vocab, width]
    pub token_embedding: Param<Tensor<B, 2>>,
    /// [context, width]
    pub positional_embedding: Param<Tensor<B, 2>>,
    /// Causal transformer.
    pub transformer: Transformer<B>,
    /// Final LayerNorm.
    pub ln_final: LayerNorm<B>,
    /// [width, embed]
    pub text_projection: Param<Tensor<B, 2>>,
}

impl<B: Backend> ClipTextTower<B> {
    /// Random init as CLIP's `initialize_parameters` (for tests and demos; real use loads weights).
    pub fn new(cfg: &ClipTextConfig, device: &B::Device) -> Self {
        let w = cfg.width;
        Self {
            token_embedding: Param::from_tensor(normal([cfg.vocab_size, w], 0.02, device)),
            positional_embedding: Param::from_tensor(normal([cfg.context_length, w], 0.01, device)),
            transformer: Transformer::new(w, cfg.layers, cfg.heads, device),
            ln_final: LayerNorm::new(w, device),
            text_projection: Param::from_tensor(normal(
                [w, cfg.embed_dim],
                (w as f64).powf(-0.5),
                device,
            )),
        }
    }

    /// Loads the OpenAI-named text keys under `prefix` (e.g. `clipmodel`); vision keys are not read.
    pub fn load(l: &mut Loader<B>, prefix: &str, cfg: &ClipTextConfig) -> Result<Self> {
        let w = cfg.width;
        Ok(Self {
            token_embedding: l
                .param(&key(prefix, "token_embedding.weight"), [cfg.vocab_size, w])?,
            positional_embedding: l.param(
                &key(prefix, "positional_embedding"),
                [cfg.context_length, w],
            )?,
            transformer: Transformer::load(
                l,
                &key(prefix, "transformer"),
                w,
                cfg.layers,
                cfg.heads,
            )?,
            ln_final: LayerNorm::load(l, &key(prefix, "ln_final"), w)?,
            text_projection: l.param(&key(prefix, "text_projection"), [w, cfg.embed_dim])?,
        })
    }

    /// Writes the text keys under `prefix`.
    pub fn save(&self, prefix: &str, out: &mut StateDict) {
        put(
            out,
            key(prefix, "token_embedding.weight"),
            &self.token_embedding,
        );
        put(
            out,
            key(prefix, "positional_embedding"),
            &self.positional_embedding,
        );
        self.transformer.save(&key(prefix, "transformer"), out);
        self.ln_final.save(&key(prefix, "ln_final"), out);
        put(out, key(prefix, "text_projection"), &self.text_projection);
    }

    /// `encode_token`: token ids [C][≤context] (zero padded to the context) → embeddings [C, context, width].
    pub fn embed_tokens(&self, ids: &[Vec<u32>]) -> Result<Tensor<B, 3>> {
        let [vocab, w] = self.token_embedding.dims();
        let ctx = self.positional_embedding.dims()[0];
        let mut flat = Vec::with_capacity(ids.len() * ctx);
        for (c, row) in ids.iter().enumerate() {
            if row.len() > ctx {
                return Err(ModelError::Input(format!(
                    "class {c}: {} tokens exceed the context {ctx}",
                    row.len()
                )));
            }
            for &t in row {
                if t as usize >= vocab {
                    return Err(ModelError::Input(format!(
                        "class {c}: token id {t} outside the vocabulary {vocab}"
                    )));
                }
                flat.push(t as i64);
            }
            flat.extend(std::iter::repeat_n(0i64, ctx - row.len()));
        }
        let device = self.token_embedding.device();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(flat, [ids.len() * ctx]), &device);
        Ok(self
            .token_embedding
            .val()
            .select(0, idx)
            .reshape([ids.len(), ctx, w]))
    }

    /// `encode_text(emb, tokens)`: prompt embeddings [C, context, width] and each row's EOT position → [C, embed].
    pub fn encode_embeddings(&self, emb: Tensor<B, 3>, eot_positions: &[usize]) -> Tensor<B, 2> {
        let [c, _, w] = emb.dims();
        let x = emb + self.positional_embedding.val().unsqueeze_dim::<3>(0);
        let x = self.transformer.forward(x, AttentionPattern::Causal);
        let x = self.ln_final.forward(x);
        let idx: Vec<i64> = eot_positions
            .iter()
            .flat_map(|&p| std::iter::repeat_n(p as i64, w))
            .collect();
        let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(idx, [c, 1, w]), &x.device());
        let eot = x.gather(1, idx).reshape([c, w]); // [C, width]
        eot.matmul(self.text_projection.val())
    }
}
