//! Wav2CLIP audio encoder (descriptinc/lyrebird-wav2clip, PyPI `wav2clip` 0.1.0) in burn, with its front end.
//!
//! Pipeline (spec `avadclip.md` §7): WAV → channels averaged → band-limited resampling to 16 kHz ([`wav`],
//! [`resample`]) → torchaudio-style power spectrogram, `log(x + 1e-7)`, standardisation ([`spectrogram`]) →
//! ResNet-18 on one channel in eval mode ([`resnet`]) → `audio_transform` MLP ([`transform`]) → 512-d embedding.
//! Weights come from the original `Wav2CLIP.pt` or a safetensors file with the same keys ([`weights`]).
//!
//! **Batch-dependent normalisation.** The package standardises the log-spectrogram with the mean and unbiased std of
//! the *whole batch tensor*; in frame mode every frame of one call shares them, so a frame's embedding depends on
//! the other frames of the call. [`Normalisation::Shared`] reproduces that (the default);
//! [`Normalisation::PerSegment`] standardises each segment on its own (frame i then equals the utterance embedding
//! of that frame alone). A constant spectrogram (e.g. digital silence, std = 0) is standardised to all zeros.

#![warn(missing_docs)]

pub mod model;
pub mod resample;
pub mod resnet;
pub mod spectrogram;
pub mod testing;
pub mod transform;
pub mod wav;
pub mod weights;

pub use model::{Wav2Clip, Wav2ClipConfig, EMBED_DIM, SAMPLE_RATE};
pub use resample::resample;
pub use spectrogram::{log_spectrogram_batch, Normalisation, HOP_LENGTH, N_BINS, N_FFT};
pub use wav::{read_wav, read_wav_mono_16k, WavAudio};
pub use weights::{RawTensor, StateDict};

use std::path::PathBuf;

/// Every error this crate returns; each names the file or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum Wav2ClipError {
    /// The file could not be opened or read.
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not a RIFF/WAVE file (e.g. some other container or not audio at all).
    #[error("{}: not a WAV (RIFF/WAVE) file: {reason}", path.display())]
    NotWav {
        /// File concerned.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The WAV file ends before the data its headers announce.
    #[error("{}: truncated WAV file: {reason}", path.display())]
    TruncatedWav {
        /// File concerned.
        path: PathBuf,
        /// Which chunk is short and by how much.
        reason: String,
    },
    /// A WAV encoding this reader does not decode (compressed codecs, odd bit depths).
    #[error("{}: unsupported WAV encoding: {reason}", path.display())]
    UnsupportedWav {
        /// File concerned.
        path: PathBuf,
        /// The format tag / bit depth found.
        reason: String,
    },
    /// The weight file could not be parsed as a PyTorch checkpoint or safetensors.
    #[error("{}: cannot read weights: {reason}", path.display())]
    Weights {
        /// File concerned.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// Tensors the model needs are absent from the weight file.
    #[error("{}: missing {} tensor(s): {}", path.display(), keys.len(), preview(keys))]
    MissingTensors {
        /// File concerned.
        path: PathBuf,
        /// Every missing key.
        keys: Vec<String>,
    },
    /// A tensor has the wrong shape.
    #[error("{}: tensor `{key}` has shape {found:?}, expected {expected:?}", path.display())]
    BadShape {
        /// File concerned.
        path: PathBuf,
        /// Tensor key.
        key: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the model needs.
        expected: Vec<usize>,
    },
    /// The audio is too short for the requested operation.
    #[error("audio too short: {0}")]
    TooShort(String),
    /// An argument is out of range (zero hop, mismatched segment lengths, zero sample rate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn preview(keys: &[String]) -> String {
    const SHOW: usize = 8;
    let mut s = keys
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOW {
        s.push_str(&format!(", ... ({} more)", keys.len() - SHOW));
    }
    s
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Wav2ClipError>;
