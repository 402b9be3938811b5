//! VadCLIP (`nwpu-zxr/VadCLIP: src/model.py: CLIPVAD`): the visual-only baseline, an [`AvadClip`] with
//! [`ModelConfig::vadclip_xd`] / [`ModelConfig::vadclip_ucf`] (no audio, no fusion, additive visual prompt).

use burn::prelude::*;

use crate::error::Result;
use crate::model::AvadClip;
use crate::prompt::ClassText;

/// `CLIPVAD.forward`'s return value.
#[derive(Debug, Clone)]
pub struct VadClipOutput<B: Backend> {
    /// Class text features before the visual prompt, [C, E].
    pub text_features: Tensor<B, 2>,
    /// C-branch raw logits, [B, T, 1].
    pub logits1: Tensor<B, 3>,
    /// A-branch alignment logits, [B, T, C].
    pub logits2: Tensor<B, 3>,
}

impl<B: Backend> AvadClip<B> {
    /// `CLIPVAD.forward(visual, None, text, lengths)` → (text_features, logits1, logits2).
    pub fn forward_vadclip(
        &self,
        visual: Tensor<B, 3>,
        lengths: &[usize],
        text: &ClassText<B>,
    ) -> Result<VadClipOutput<B>> {
        let out = self.forward(visual, None, lengths, text)?;
        Ok(VadClipOutput {
            text_features: out.text_features,
            logits1: out.logits1,
            logits2: out.logits2,
        })
    }
}
