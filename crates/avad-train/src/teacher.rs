//! The frozen teacher of uncertainty-driven distillation: an AVadCLIP teacher checkpoint loaded on the inner
//! (non-autodiff) backend, so it has no gradient and its dropout is off, as under the official `model.eval()` +
//! `requires_grad = False` (AVadCLIP `src/xd_train_s.py`).

use std::path::{Path, PathBuf};

use avad_infer::{Checkpoint, Predictor};
use avad_model::{AvadClip, ModelConfig, ModelOutput};
use burn::prelude::*;

use crate::error::{Result, TrainError};

/// A frozen teacher: its model, its class text features (computed once) and where it came from.
#[derive(Debug)]
pub struct Teacher<B: Backend> {
    /// The teacher network (no autodiff: nothing of it is trained).
    pub model: AvadClip<B>,
    /// Its class text features [C, E] (its own learned prompt over its own CLIP text tower).
    pub text_features: Tensor<B, 2>,
    /// Its architecture.
    pub config: ModelConfig,
    /// Its class names.
    pub class_names: Vec<String>,
    /// The checkpoint JSON it was loaded from.
    pub path: PathBuf,
}

impl<B: Backend> Teacher<B> {
    /// Loads a checkpoint (JSON file or training folder) as a frozen teacher.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        let ck: Checkpoint = Checkpoint::open(path)?;
        if ck.meta.model_config.fe_net {
            return Err(TrainError::ckpt(
                &ck.path,
                "is a student (FE net); distil from a teacher (e.g. an `avad train --preset *-teacher` run)",
            ));
        }
        let p = Predictor::<B>::from_checkpoint(&ck.path, device)?;
        Ok(Self {
            model: p.model,
            text_features: p.text_features,
            config: ck.meta.model_config.clone(),
            class_names: p.class_names,
            path: ck.path,
        })
    }

    /// Width of the teacher's audio input (`None` for a visual-only teacher).
    pub fn audio_width(&self) -> Option<usize> {
        self.config.audio.as_ref().map(|a| a.input_width)
    }

    /// The teacher's output (fused feature X_av, logits of both branches, …) for one processed batch; the audio
    /// is ignored by a visual-only teacher.
    pub fn output(
        &self,
        visual: Tensor<B, 3>,
        audio: Option<Tensor<B, 3>>,
        lengths: &[usize],
    ) -> Result<ModelOutput<B>> {
        let audio = if self.config.audio.is_some() {
            audio
        } else {
            None
        };
        Ok(self.model.forward_with_text_features(
            visual,
            audio,
            lengths,
            self.text_features.clone(),
        )?)
    }

    /// The teacher's fused feature X_av [B, T, E] (its `ModelOutput::features`) for one processed batch.
    pub fn features(
        &self,
        visual: Tensor<B, 3>,
        audio: Option<Tensor<B, 3>>,
        lengths: &[usize],
    ) -> Result<Tensor<B, 3>> {
        Ok(self.output(visual, audio, lengths)?.features)
    }
}
