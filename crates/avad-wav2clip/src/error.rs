//! The error type of the crate; each variant names the file or tensor concerned.

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
    /// The weights are readable but wrong in a way the model checks itself (the spectrogram window).
    #[error("{}: bad weights: {reason}", path.display())]
    Weights {
        /// File concerned.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// A weight file could not be read, or tensors the model needs are absent (all named) or mis-shaped.
    #[error(transparent)]
    Nn(#[from] avad_nn::NnError),
    /// The audio is too short for the requested operation.
    #[error("audio too short: {0}")]
    TooShort(String),
    /// An argument is out of range (zero hop, mismatched segment lengths, zero sample rate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Wav2ClipError>;
