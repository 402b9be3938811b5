//! Prompts: the learnable CoOp-style text prompt (`encode_textprompt`), the visual / audio-visual prompt that adds
//! the anomaly-weighted video feature to the class embeddings, and the alignment logits (`logits2`).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::graph::valid_mask;
use crate::nn::l2_normalize;

/// Temperature of the alignment logits (`/ 0.07`).
pub const LOGIT_TEMPERATURE: f64 = 0.07;

/// The class names after tokenisation: CLIP token embeddings and the EOT position of each class.
#[derive(Debug, Clone)]
pub struct ClassText<B: Backend> {
    /// `encode_token(tokenize(names))`: [C, 77, width].
    pub word_embeddings: Tensor<B, 3>,
    /// `argmax(tokens)`: the EOT position `ind` of each class.
    pub eot_index: Vec<usize>,
}

impl<B: Backend> ClassText<B> {
    /// Builds from token ids (rows `[SOT, …, EOT]`, zero padding optional) and their embeddings [C, 77, width].
    pub fn new(token_ids: &[Vec<u32>], word_embeddings: Tensor<B, 3>) -> Result<Self> {
        let [c, _, _] = word_embeddings.dims();
        if token_ids.len() != c {
            return Err(ModelError::Input(format!(
                "{} token rows for {c} embedding rows",
                token_ids.len()
            )));
        }
        let eot_index = token_ids
            .iter()
            .enumerate()
            .map(|(i, row)| {
                // torch.argmax: first position of the maximum.
                let max = row
                    .iter()
                    .copied()
                    .max()
                    .ok_or_else(|| ModelError::Input(format!("class {i}: no tokens")))?;
                Ok(row.iter().position(|&t| t == max).unwrap_or(0))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings,
            eot_index,
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.eot_index.len()
    }
}

/// Builds the prompt embeddings [C, 77, W] and EOT slots from the learnable table [77, W] (official row indexing).
///
/// For class i with EOT at `ind`: position 0 ← SOT embedding; 1..=P ← learnable rows; P+1 .. P+ind−1 ← the class
/// tokens `word[1:ind]`; P+ind .. P+ind+Q−1 ← learnable rows at those same positions (so the postfix rows depend on
/// the class's token length); P+ind+Q ← EOT embedding (the returned slot); later positions ← learnable rows.
pub fn assemble_prompt<B: Backend>(
    table: Tensor<B, 2>,
    text: &ClassText<B>,
    prefix: usize,
    postfix: usize,
) -> Result<(Tensor<B, 3>, Vec<usize>)> {
    let [c, ctx, w] = text.word_embeddings.dims();
    let [rows, tw] = table.dims();
    if rows != ctx || tw != w {
        return Err(ModelError::Input(format!(
            "prompt table [{rows}, {tw}] does not fit token embeddings [{c}, {ctx}, {w}]"
        )));
    }
    let mut src = vec![0i64; c * ctx];
    let mut from_word = vec![false; c * ctx];
    let mut slots = Vec::with_capacity(c);
    for (i, &ind) in text.eot_index.iter().enumerate() {
        let slot = prefix + ind + postfix;
        if ind == 0 || slot >= ctx {
            return Err(ModelError::Input(format!(
                "class {i}: EOT at {ind} with prefix {prefix} and postfix {postfix} does not fit the context {ctx}"
            )));
        }
        let mut set = |pos: usize, from: usize| {
            src[i * ctx + pos] = from as i64;
            from_word[i * ctx + pos] = true;
        };
        set(0, 0);
        for j in 1..ind {
            set(prefix + j, j);
        }
        set(slot, ind);
        slots.push(slot);
    }
    let device = table.device();
    let idx: Vec<i64> = src
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, w))
        .collect();
    let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(idx, [c, ctx, w]), &device);
    let words = text.word_embeddings.clone().gather(1, idx); // [C, ctx, W]
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(from_word, [c, ctx]), &device)
        .unsqueeze_dim::<3>(2)
        .expand([c, ctx, w]);
    let learn = table.unsqueeze_dim::<3>(0).expand([c, ctx, w]);
    Ok((learn.mask_where(mask, words), slots))
}

/// How the video feature is merged into the class embeddings before `mlp1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PromptVariant {
    /// VadCLIP: `t' = t + p` with `p = normalize(logits1ᵀ X)`.
    #[default]
    Add,
    /// AVadCLIP official: `S = softmax(t pᵀ)` over the C identical copies of p, `t' = t + S p`. Because all rows of
    /// the expanded p are equal and softmax rows sum to 1, `S p = p`: numerically the same as [`PromptVariant::Add`].
    Softmax,
    /// The paper's reading, made non-trivial: snippet-level prompts `p_t = normalize(logits1_t · x_t)`, per-class
    /// weights `S = softmax_t(t · p_t)` over the valid snippets, `t' = t + normalize(S X)`. Not in the official code.
    Paper,
}

/// The (audio-)visual prompt: class embeddings t [C, E], video features x [B, T, E], raw `logits1` [B, T, 1]
/// (padding rows included, as upstream) → prompted class embeddings [B, C, E] (before `mlp1`).
pub fn visual_prompt<B: Backend>(
    t: Tensor<B, 2>,
    x: Tensor<B, 3>,
    logits1: Tensor<B, 3>,
    lengths: &[usize],
    variant: PromptVariant,
) -> Tensor<B, 3> {
    let [b, tt, e] = x.dims();
    let [c, _] = t.dims();
    let tb = t.unsqueeze_dim::<3>(0).expand([b, c, e]); // [B, C, E]
    match variant {
        PromptVariant::Add | PromptVariant::Softmax => {
            let p = l2_normalize(logits1.swap_dims(1, 2).matmul(x)); // [B, 1, E]
            let p = p.expand([b, c, e]); // [B, C, E]
            if variant == PromptVariant::Add {
                tb + p
            } else {
                let s = softmax(tb.clone().matmul(p.clone().swap_dims(1, 2)), 2); // [B, C, C]
                tb + s.matmul(p)
            }
        }
        PromptVariant::Paper => {
            let p = l2_normalize(x.clone() * logits1); // [B, T, E]
            let sim = tb.clone().matmul(p.swap_dims(1, 2)); // [B, C, T]
            let blocked = valid_mask::<B>(lengths, tt, &x.device())
                .bool_not()
                .unsqueeze_dim::<3>(1)
                .expand([b, c, tt]);
            let s = softmax(sim.mask_fill(blocked, f32::NEG_INFINITY), 2); // [B, C, T]
            tb + l2_normalize(s.matmul(x)) // [B, C, E]
        }
    }
}

/// Alignment logits `normalize(x) @ normalize(t')ᵀ / 0.07`: x [B, T, E], t' [B, C, E] → [B, T, C].
pub fn alignment_logits<B: Backend>(x: Tensor<B, 3>, t: Tensor<B, 3>) -> Tensor<B, 3> {
    l2_normalize(x).matmul(l2_normalize(t).swap_dims(1, 2)) / LOGIT_TEMPERATURE
}
