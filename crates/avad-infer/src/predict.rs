//! Prediction: a model plus its class text features (computed once), scoring whole videos with the official
//! test-time chunking (`process_split`: chunks of T = 256, the last zero padded, outputs cut to the true length).

use avad_core::features::chunk_lengths;
use avad_model::AvadClip;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

use crate::checkpoint::Checkpoint;
use crate::error::{InferError, Result};

/// `clip.tokenize(names)` rows `[SOT, …, EOT]` (unpadded) with CLIP's BPE tokenizer: the token ids of the class
/// prompts.
pub fn class_token_ids(names: &[String]) -> Vec<Vec<u32>> {
    let tok = avad_clip::Tokenizer::new();
    names
        .iter()
        .map(|n| tok.tokenize_ids(n, avad_clip::CONTEXT_LENGTH))
        .collect()
}

/// Per-snippet outputs of one video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoScores {
    /// Number of snippets T.
    pub t: usize,
    /// Number of classes C.
    pub num_class: usize,
    /// C-branch probabilities `sigmoid(logits1)`, [T].
    pub prob1: Vec<f32>,
    /// A-branch class probabilities `softmax(logits2)`, row-major [T, C], column 0 = normal.
    pub probs: Vec<f32>,
    /// Audio fusion gate per snippet, [T]: the mean over the D dimensions of the gate
    /// `W = sigmoid(gate_proj(concat[v, a]))` of the paper's adaptive audio-visual fusion `X_av = v + W ⊙ R`
    /// (upstream `AVadCLIP: src/model_t.py`), in (0, 1). 0 = the residual R (computed from [v, a]) is shut out,
    /// 1 = let fully through. `None` unless the model uses adaptive fusion (add, concat-linear, cross-attention and
    /// none have no gate).
    pub audio_gate: Option<Vec<f32>>,
    /// Audio contribution share per snippet, [T]: `‖W ⊙ R‖ / (‖v‖ + ‖W ⊙ R‖)` (L2 norms over D; 0 when both are 0),
    /// in [0, 1]: how large the term fusion adds to the visual feature v is relative to v. Unlike the gate,
    /// it is small when R is small even if the gate is open. `None` exactly when `audio_gate` is.
    pub audio_share: Option<Vec<f32>>,
}

impl VideoScores {
    /// A-branch anomaly score `1 − softmax(logits2)[:, 0]`, [T] (`prob2` of the official test scripts, e.g. VadCLIP's `src/xd_test.py`).
    pub fn prob2(&self) -> Vec<f32> {
        (0..self.t)
            .map(|i| 1.0 - self.probs[i * self.num_class])
            .collect()
    }
}

/// A model ready to score videos: class text features are computed once at construction.
#[derive(Debug)]
pub struct Predictor<B: Backend> {
    /// The model.
    pub model: AvadClip<B>,
    /// Class text features [C, E] (prompted CLIP text encoder output, before the visual prompt).
    pub text_features: Tensor<B, 2>,
    /// Class names, index 0 = normal.
    pub class_names: Vec<String>,
    /// Padded chunk length T (256).
    pub visual_length: usize,
    /// Visual feature width D.
    pub visual_width: usize,
    /// Audio feature width, for audio models.
    pub audio_width: Option<usize>,
}

impl<B: Backend> Predictor<B> {
    /// Wraps `model`, computing the text features of `class_names` once.
    pub fn new(model: AvadClip<B>, class_names: Vec<String>) -> Result<Self> {
        let ids = class_token_ids(&class_names);
        let text = model.class_text(&ids)?;
        let text_features = model.text_features(&text)?;
        let [visual_length, visual_width] = model.frame_position_embeddings.dims();
        let audio_width = model
            .temporalconvnet
            .as_ref()
            .and_then(|t| t.network.first().map(|b| b.conv1.weight_v.dims()[1]));
        Ok(Self {
            model,
            text_features,
            class_names,
            visual_length,
            visual_width,
            audio_width,
        })
    }

    /// Loads a checkpoint (JSON file or folder, see [`Checkpoint::open`]) onto `device`.
    pub fn from_checkpoint(path: &std::path::Path, device: &B::Device) -> Result<Self> {
        let ck: Checkpoint = Checkpoint::open(path)?;
        let weights = ck.load_weights()?;
        let (model, report) = AvadClip::<B>::from_weights(&ck.meta.model_config, &weights, device)?;
        if !report.unused_keys.is_empty() {
            tracing::warn!(
                "{}: {} unused weight keys, e.g. {}",
                ck.path.display(),
                report.unused_keys.len(),
                report.unused_keys[0]
            );
        }
        Self::new(model, ck.meta.class_names.clone())
    }

    /// True when the model needs audio features.
    pub fn needs_audio(&self) -> bool {
        self.audio_width.is_some()
    }

    /// Scores one video: `visual` row-major [T, D] (T ≥ 1, any length), `audio` [T, Da] for audio models.
    /// All chunks of the video go through the model as one batch.
    pub fn predict(&self, visual: &[f32], audio: Option<&[f32]>) -> Result<VideoScores> {
        let (l, d) = (self.visual_length, self.visual_width);
        if visual.is_empty() || !visual.len().is_multiple_of(d) {
            return Err(InferError::Data(format!(
                "visual features have {} values, not a multiple of D = {d}",
                visual.len()
            )));
        }
        let t = visual.len() / d;
        let audio = match (self.audio_width, audio) {
            (Some(da), Some(a)) if a.len() == t * da => Some((a, da)),
            (Some(da), Some(a)) => {
                return Err(InferError::Data(format!(
                    "audio features have {} values, expected [{t}, {da}]",
                    a.len()
                )))
            }
            (Some(_), None) => {
                return Err(InferError::Data("this model needs audio features".into()))
            }
            (None, _) => None,
        };
        let lengths = chunk_lengths(t, l);
        let n = lengths.len();
        let pad = |x: &[f32], w: usize| {
            let mut v = x.to_vec();
            v.resize(n * l * w, 0.0);
            v
        };
        let device = self.text_features.device();
        let vis = Tensor::<B, 3>::from_data(TensorData::new(pad(visual, d), [n, l, d]), &device);
        let aud = audio.map(|(a, da)| {
            Tensor::<B, 3>::from_data(TensorData::new(pad(a, da), [n, l, da]), &device)
        });
        let out = self.model.forward_with_text_features(
            vis,
            aud,
            &lengths,
            self.text_features.clone(),
        )?;
        let c = self.class_names.len();
        let prob1 = sigmoid(out.logits1).reshape([n * l]).narrow(0, 0, t);
        let probs = softmax(out.logits2.reshape([n * l, c]), 1).narrow(0, 0, t);
        let to_vec = |x: TensorData| {
            x.convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| InferError::Data(format!("{e:?}")))
        };
        let audio_gate = match out.fusion_gate {
            // [n, l, D] → mean over D → [n·l] → the first t snippets
            Some(g) => Some(to_vec(
                g.mean_dim(2).reshape([n * l]).narrow(0, 0, t).into_data(),
            )?),
            None => None,
        };
        let audio_share = match out.fusion_residual {
            Some(gr) => {
                let norm = |x: Tensor<B, 3>| x.square().sum_dim(2).sqrt().reshape([n * l]); // [n·l]
                let g = norm(gr);
                let v = norm(out.visual_features);
                let share = g.clone() / (v + g).clamp_min(f32::MIN_POSITIVE);
                Some(to_vec(share.narrow(0, 0, t).into_data())?)
            }
            None => None,
        };
        Ok(VideoScores {
            t,
            num_class: c,
            prob1: to_vec(prob1.into_data())?,
            probs: to_vec(probs.into_data())?,
            audio_gate,
            audio_share,
        })
    }
}
