//! The error type of `avad-watch`.

/// Result alias of this crate.
pub type Result<T, E = WatchError> = std::result::Result<T, E>;

/// What can stop a watch or one of its parts.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A configuration file or flag is wrong (the message names it).
    #[error("{0}")]
    Config(String),
    /// An output could not be set up or could not deliver.
    #[error("{0}")]
    Output(String),
    /// A source failed (open, decode, timeout); the camera reconnects.
    #[error(transparent)]
    Media(Box<avad_media::MediaError>),
    /// A live source delivered nothing for the watchdog's time.
    #[error("{0}")]
    Stalled(String),
    /// Feature extraction failed.
    #[error(transparent)]
    Pipeline(Box<avad_pipeline::PipelineError>),
    /// The model failed.
    #[error(transparent)]
    Model(Box<avad_infer::InferError>),
}

impl From<avad_media::MediaError> for WatchError {
    fn from(e: avad_media::MediaError) -> Self {
        Self::Media(Box::new(e))
    }
}

impl From<avad_pipeline::PipelineError> for WatchError {
    fn from(e: avad_pipeline::PipelineError) -> Self {
        Self::Pipeline(Box::new(e))
    }
}

impl From<avad_infer::InferError> for WatchError {
    fn from(e: avad_infer::InferError) -> Self {
        Self::Model(Box::new(e))
    }
}
