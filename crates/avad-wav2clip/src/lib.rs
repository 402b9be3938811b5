//! Wav2CLIP audio encoder (descriptinc/lyrebird-wav2clip, PyPI `wav2clip` 0.1.0) in burn, with its front end.
//!
//! Pipeline (the `wav2clip` package: `wav2clip/__init__.py`, `wav2clip/model/encoder.py`): WAV → channels averaged → band-limited resampling to 16 kHz ([`wav`],
//! [`resample`]) → torchaudio-style power spectrogram, `log(x + 1e-7)`, standardisation ([`spectrogram`]) →
//! ResNet-18 on one channel in eval mode ([`resnet`]) → `audio_transform` MLP ([`transform`]) → 512-d embedding.
//! Weights come from the original `Wav2CLIP.pt` or a safetensors file with the same keys ([`weights`]).
//! [`fast`] is a faster fp32 CPU path for the same function (batch norm folded, prepacked `avad-kernels` GEMMs).
//!
//! **Batch-dependent normalisation.** The package standardises the log-spectrogram with the mean and unbiased std of
//! the *whole batch tensor*; in frame mode every frame of one call shares them, so a frame's embedding depends on
//! the other frames of the call. [`Normalisation::Shared`] reproduces that (the default);
//! [`Normalisation::PerSegment`] standardises each segment on its own (frame i then equals the utterance embedding
//! of that frame alone). A constant spectrogram (e.g. digital silence, std = 0) is standardised to all zeros.

#![warn(missing_docs)]

pub mod error;
pub mod fast;
pub mod model;
pub mod resample;
pub mod resnet;
pub mod spectrogram;
pub mod testing;
pub mod transform;
pub mod wav;

pub use error::{Result, Wav2ClipError};
pub use fast::{FastWav2Clip, FastWav2ClipOptions};
pub use model::{Wav2Clip, Wav2ClipConfig, EMBED_DIM, SAMPLE_RATE};
pub use resample::resample;
pub use spectrogram::{log_spectrogram_batch, Normalisation, HOP_LENGTH, N_BINS, N_FFT};
pub use wav::{read_wav, read_wav_mono_16k, WavAudio};
