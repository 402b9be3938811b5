//! The AVadCLIP teacher (`WanshunSu/AVadCLIP: src/model_t.py: AVADCLIP`): VadCLIP plus the audio TCN, the
//! adaptive fusion, the (no-op) similarity-weighted AV prompt and a learnable focal α; an [`AvadClip`] with
//! [`ModelConfig::avadclip_teacher_xd`].

use burn::prelude::*;

use crate::error::Result;
use crate::model::AvadClip;
use crate::prompt::ClassText;

/// `AVADCLIP.forward`'s return value.
#[derive(Debug, Clone)]
pub struct TeacherOutput<B: Backend> {
    /// Fused audio-visual feature X_av, [B, T, D] (the UKD target).
    pub x_av: Tensor<B, 3>,
    /// Class text features before the prompt, [C, E].
    pub text_features: Tensor<B, 2>,
    /// C-branch raw logits, [B, T, 1].
    pub logits1: Tensor<B, 3>,
    /// A-branch alignment logits, [B, T, C].
    pub logits2: Tensor<B, 3>,
    /// Learnable focal α, [C].
    pub alpha: Tensor<B, 1>,
}

impl<B: Backend> AvadClip<B> {
    /// `AVADCLIP.forward(visual, audio, None, None, text, lengths)` → (X_av, t, logits1, logits2, α).
    /// Errors when the model has no audio path or no α.
    pub fn forward_teacher(
        &self,
        visual: Tensor<B, 3>,
        audio: Tensor<B, 3>,
        lengths: &[usize],
        text: &ClassText<B>,
    ) -> Result<TeacherOutput<B>> {
        let out = self.forward(visual, Some(audio), lengths, text)?;
        let alpha = out.alpha.ok_or_else(|| {
            crate::error::ModelError::Config("teacher forward needs a model with alpha".into())
        })?;
        Ok(TeacherOutput {
            x_av: out.features,
            text_features: out.text_features,
            logits1: out.logits1,
            logits2: out.logits2,
            alpha,
        })
    }
}
