//! Prediction: a model plus its class text features (computed once), scoring whole videos with the official
//! test-time chunking (`process_split`: chunks of T = 256, the last zero padded, outputs cut to the true length).
//!
//! On the CPU the forward pass runs on avad-model's [`FastModel`] (weights packed once, avad-kernels GEMMs;
//! [`ModelEngine::FastCpu`]); the burn modules ([`ModelEngine::Reference`]) run everywhere else and stay
//! selectable, as the path the parity tests check.

use avad_core::features::chunk_lengths;
use avad_model::{AvadClip, FastModel, FastModelOptions};
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

/// Which implementation of the model's forward pass a [`Predictor`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelEngine {
    /// [`ModelEngine::FastCpu`] when the backend is burn's CPU backend (`flex`) and the model is one the fast path
    /// implements (every preset; not cross-attention fusion), else [`ModelEngine::Reference`]. The environment
    /// variable `AVAD_MODEL_ENGINE=reference` makes it the reference.
    #[default]
    Auto,
    /// avad-model's [`FastModel`]: weights packed once on the host, the forward pass on avad-kernels' fp32 GEMM
    /// (CPU only; within 1e-4 of the reference, tested).
    FastCpu,
    /// The burn modules on the predictor's backend and device.
    Reference,
}

impl ModelEngine {
    /// `auto`, `fast` or `reference`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::FastCpu => "fast",
            Self::Reference => "reference",
        }
    }

    /// Parses [`ModelEngine::as_str`]'s spelling.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "fast" => Ok(Self::FastCpu),
            "reference" => Ok(Self::Reference),
            other => Err(InferError::Data(format!(
                "unknown model engine `{other}` (auto, fast, reference)"
            ))),
        }
    }
}

/// True for burn's CPU backend (`flex`, also under autodiff).
fn is_cpu_backend<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    name == "flex" || name.ends_with("<flex>")
}

/// A model ready to score videos: class text features are computed once at construction, and on the CPU the
/// weights are packed for the fast engine ([`ModelEngine`]). After changing `model`, call
/// [`Predictor::set_engine`] again so that the fast engine sees the change.
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
    /// The fast engine, when it is the one in use.
    fast: Option<FastModel>,
    /// `text_features` on the host, `[C, E]` row-major (for the fast engine).
    text_host: Vec<f32>,
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
        let text_host = text_features
            .to_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| InferError::Data(format!("{e:?}")))?;
        let mut p = Self {
            model,
            text_features,
            class_names,
            visual_length,
            visual_width,
            audio_width,
            fast: None,
            text_host,
        };
        p.set_engine(ModelEngine::Auto)?;
        Ok(p)
    }

    /// The engine in use: [`ModelEngine::FastCpu`] or [`ModelEngine::Reference`].
    pub fn engine(&self) -> ModelEngine {
        if self.fast.is_some() {
            ModelEngine::FastCpu
        } else {
            ModelEngine::Reference
        }
    }

    /// Chooses the engine of later [`Predictor::predict`] calls (packing the weights for the fast one).
    ///
    /// # Errors
    /// With [`ModelEngine::FastCpu`], when the fast path does not implement this model (`Auto` falls back to the
    /// reference instead).
    pub fn set_engine(&mut self, engine: ModelEngine) -> Result<()> {
        self.fast = None;
        let device = self.text_features.device();
        let want = match engine {
            ModelEngine::Auto => {
                let forced = std::env::var("AVAD_MODEL_ENGINE")
                    .is_ok_and(|v| v.trim().eq_ignore_ascii_case("reference"));
                !forced && is_cpu_backend::<B>(&device)
            }
            ModelEngine::FastCpu => true,
            ModelEngine::Reference => false,
        };
        if !want {
            return Ok(());
        }
        match FastModel::new(&self.model, FastModelOptions::default()) {
            Ok(f) => self.fast = Some(f),
            Err(e) if engine == ModelEngine::Auto => {
                tracing::debug!("model engine: reference ({e})");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// [`Predictor::set_engine`] by value.
    pub fn with_engine(mut self, engine: ModelEngine) -> Result<Self> {
        self.set_engine(engine)?;
        Ok(self)
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
        if let Some(fast) = &self.fast {
            let vis = pad(visual, d);
            let aud = audio.map(|(a, da)| pad(a, da));
            let out = fast.forward(&vis, aud.as_deref(), &lengths, &self.text_host)?;
            return Ok(scores_of(&out, t));
        }
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

/// The first `t` snippets' scores from the fast engine's outputs (the same formulas as the reference branch of
/// [`Predictor::predict`]).
fn scores_of(out: &avad_model::FastOutput, t: usize) -> VideoScores {
    let (c, d) = (out.classes, out.width);
    let prob1 = out.logits1[..t]
        .iter()
        .map(|&x| 1.0 / (1.0 + (-x).exp()))
        .collect();
    let mut probs = out.logits2[..t * c].to_vec();
    for row in probs.chunks_exact_mut(c) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    let audio_gate = out.fusion_gate.as_ref().map(|g| {
        g[..t * d]
            .chunks_exact(d)
            .map(|r| r.iter().sum::<f32>() / d as f32)
            .collect()
    });
    let norm = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>().sqrt();
    let audio_share = out.fusion_residual.as_ref().map(|gr| {
        gr[..t * d]
            .chunks_exact(d)
            .zip(out.visual_features.chunks_exact(d))
            .map(|(g, v)| {
                let (g, v) = (norm(g), norm(v));
                g / (v + g).max(f32::MIN_POSITIVE)
            })
            .collect()
    });
    VideoScores {
        t,
        num_class: c,
        prob1,
        probs,
        audio_gate,
        audio_share,
    }
}
