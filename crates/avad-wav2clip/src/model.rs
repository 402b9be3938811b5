//! The whole Wav2CLIP audio model: front end + ResNet-18 (`audio_encoder`) + MLP (`audio_transform`), and the
//! utterance / frame modes of `wav2clip/model/encoder.py`.

use std::path::Path;

use avad_nn::{load_weights, VisitWeights, WeightMap, WeightVisitor};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Result, Wav2ClipError};
use crate::resnet::{ResNet, ResNetConfig};
use crate::spectrogram::{log_spectrogram_batch, periodic_hann, Normalisation, N_BINS, N_FFT};
use crate::transform::MlpLayers;

/// Sample rate the model expects.
pub const SAMPLE_RATE: u32 = 16_000;
/// Embedding width.
pub const EMBED_DIM: usize = 512;
/// Key of the spectrogram window buffer in the state dict.
pub const WINDOW_KEY: &str = "audio_encoder.spectrogram.window";
/// Largest accepted difference between a stored window and the periodic Hann window (f16 rounding is < 2.5e-4).
pub const WINDOW_TOLERANCE: f32 = 1e-3;

/// Model configuration (fixed by the released weights; serialisable for records and tests).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Wav2ClipConfig {
    /// ResNet shape.
    pub resnet: ResNetConfig,
    /// Width of the MLP head.
    pub embed_dim: usize,
    /// Segments encoded per forward pass (memory bound only: eval-mode encoding is per segment, so chunking never
    /// changes results; normalisation is computed over the whole call first).
    pub chunk_size: usize,
}

impl Default for Wav2ClipConfig {
    fn default() -> Self {
        Self {
            resnet: ResNetConfig::default(),
            embed_dim: EMBED_DIM,
            chunk_size: 32,
        }
    }
}

/// Wav2CLIP audio encoder with its weights, ready to embed 16 kHz mono audio.
#[derive(Debug)]
pub struct Wav2Clip<B: Backend> {
    /// ResNet-18 (`audio_encoder.*`).
    pub audio_encoder: ResNet<B>,
    /// Projection head (`audio_transform.*`).
    pub audio_transform: MlpLayers<B>,
    /// Spectrogram window (`audio_encoder.spectrogram.window`, periodic Hann 512).
    pub window: Vec<f32>,
    /// Configuration.
    pub config: Wav2ClipConfig,
    device: B::Device,
}

impl<B: Backend> Wav2Clip<B> {
    /// Loads `Wav2CLIP.pt` (PyTorch) or a safetensors file with the same keys.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_weights(&WeightMap::load(path)?, device)
    }

    /// A model of the released shape whose weights are placeholders (to be loaded).
    pub fn placeholder(device: &B::Device) -> Self {
        let config = Wav2ClipConfig::default();
        Self {
            audio_encoder: ResNet::placeholder(&config.resnet, device),
            audio_transform: MlpLayers::placeholder(config.embed_dim, device),
            window: periodic_hann(N_FFT),
            config,
            device: device.clone(),
        }
    }

    /// Builds the model from its weights. Every missing tensor is named in one error; a misshaped one too.
    /// `audio_encoder.spectrogram.window` (optional) must be the periodic Hann window the package always builds
    /// (checked to within f16 rounding, [`WINDOW_TOLERANCE`]). Stored at f32 precision it is used as is (torch's
    /// values); absent or rounded to f16 the correctly rounded Hann window is used instead.
    /// `num_batches_tracked` and unknown keys are ignored.
    pub fn from_weights(w: &WeightMap, device: &B::Device) -> Result<Self> {
        let mut model = Self::placeholder(device);
        load_weights(&mut model, w, "")?;
        if w.contains(WINDOW_KEY) {
            let stored = w.require(WINDOW_KEY, &[N_FFT])?;
            let diff = stored
                .iter()
                .zip(&model.window)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            if diff > WINDOW_TOLERANCE {
                return Err(Wav2ClipError::Weights {
                    path: w.source().into(),
                    reason: format!("tensor `{WINDOW_KEY}` is not the periodic Hann window (max abs diff {diff})"),
                });
            }
            if diff <= 1e-6 {
                // stored at f32 precision: torch's own window values (they differ from the correctly rounded
                // Hann window by up to 1.8e-7, which matters in near-zero-power bins after the log)
                model.window = stored;
            }
        }
        Ok(model)
    }

    /// The device the weights live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Standardised log-spectrogram `[N, 1, 257, T]` → embeddings `[N, 512]`, in chunks of `chunk_size`.
    pub fn embed_spectrogram(&self, spec: Tensor<B, 4>) -> Tensor<B, 2> {
        let n = spec.dims()[0];
        let chunk = self.config.chunk_size.max(1);
        let parts: Vec<Tensor<B, 2>> = (0..n)
            .step_by(chunk)
            .map(|s| {
                let x = spec.clone().narrow(0, s, chunk.min(n - s));
                self.audio_transform.forward(self.audio_encoder.forward(x))
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// The standardised log-spectrogram the encoder sees for equally long 16 kHz segments: `[N, 1, 257, T]`.
    pub fn spectrogram(
        &self,
        segments: &[&[f32]],
        normalisation: Normalisation,
    ) -> Result<Tensor<B, 4>> {
        let (data, t) = log_spectrogram_batch(segments, &self.window, normalisation)?;
        Ok(Tensor::from_data(
            TensorData::new(data, [segments.len(), 1, N_BINS, t]),
            &self.device,
        ))
    }

    /// Embeds a batch of equally long 16 kHz segments: `[N, 512]`. With [`Normalisation::Shared`] this is exactly the
    /// package's `model(torch.stack(segments))`.
    pub fn embed_batch(
        &self,
        segments: &[&[f32]],
        normalisation: Normalisation,
    ) -> Result<Tensor<B, 2>> {
        Ok(self.embed_spectrogram(self.spectrogram(segments, normalisation)?))
    }

    /// Utterance embedding of 16 kHz mono audio: `[1, 512]` (the package's `embed_audio(audio, get_model())`).
    pub fn embed_utterance(&self, samples: &[f32]) -> Result<Tensor<B, 2>> {
        self.embed_batch(&[samples], Normalisation::Shared)
    }

    /// Frame mode (`get_model(frame_length=F, hop_length=H)`): `librosa.util.frame` windows (no padding,
    /// `n = 1 + ⌊(L − F)/H⌋`), each encoded on its own, normalisation per `normalisation` (the package: shared over
    /// the frames of the call). Returns `[n, 512]`, one row per frame. Errors when `L < F` or `H == 0`.
    pub fn embed_frames(
        &self,
        samples: &[f32],
        frame_length: usize,
        hop_length: usize,
        normalisation: Normalisation,
    ) -> Result<Tensor<B, 2>> {
        let frames = frame_signal(samples, frame_length, hop_length)?;
        self.embed_batch(&frames, normalisation)
    }
}

/// Keys `audio_encoder.*` (the ResNet) and `audio_transform.*` (the MLP head).
impl<B: Backend> VisitWeights for Wav2Clip<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.nested("audio_encoder", &mut self.audio_encoder);
        v.nested("audio_transform", &mut self.audio_transform);
    }
}

/// `librosa.util.frame` on a 1-D signal: slices `[i·H, i·H + F)` for `i < 1 + ⌊(L − F)/H⌋`, no padding.
pub fn frame_signal(
    samples: &[f32],
    frame_length: usize,
    hop_length: usize,
) -> Result<Vec<&[f32]>> {
    if frame_length == 0 || hop_length == 0 {
        return Err(Wav2ClipError::InvalidArgument(format!(
            "frame_length ({frame_length}) and hop_length ({hop_length}) must be positive"
        )));
    }
    if samples.len() < frame_length {
        return Err(Wav2ClipError::TooShort(format!(
            "{} samples is shorter than one frame of {frame_length} samples",
            samples.len()
        )));
    }
    let n = 1 + (samples.len() - frame_length) / hop_length;
    Ok((0..n)
        .map(|i| &samples[i * hop_length..i * hop_length + frame_length])
        .collect())
}
