//! The error type of `avad-pipeline`; every variant names the file or video concerned.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Everything that can go wrong while extracting features or detecting anomalies.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Decoding the video failed (no video stream, no decodable frames, ...).
    #[error(transparent)]
    Media(#[from] avad_media::MediaError),
    /// The CLIP image encoder failed.
    #[error("{path}: CLIP image encoder: {source}")]
    Clip {
        /// The video.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: avad_clip::ClipError,
    },
    /// The Wav2CLIP audio encoder failed.
    #[error("{path}: Wav2CLIP audio encoder: {source}")]
    Wav2Clip {
        /// The video.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: avad_wav2clip::Wav2ClipError,
    },
    /// Reading or writing a feature, list or marker file failed.
    #[error(transparent)]
    Core(#[from] avad_core::CoreError),
    /// The anomaly model could not be loaded or failed on the features.
    #[error(transparent)]
    Model(#[from] avad_infer::InferError),
    /// An operating-system error on a file or folder.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input: arguments, a video list, a list CSV, a model that does not fit.
    #[error("{0}")]
    Invalid(String),
}

impl PipelineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }
}
