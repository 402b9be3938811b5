//! The error type of `avad-infer`.

use std::path::PathBuf;

/// Everything that can go wrong while loading a checkpoint or bundle, reading a video's features or scoring it.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint or bundle is missing, incomplete or inconsistent.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// The checkpoint (or bundle) file or folder.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// The features of a video cannot be used (shapes, missing audio, widths).
    #[error("data: {0}")]
    Data(String),
    /// An error of the model crate (shapes, weights, inputs).
    #[error(transparent)]
    Model(#[from] avad_model::ModelError),
    /// An error of the core crate (lists, `.npy` files).
    #[error(transparent)]
    Core(#[from] avad_core::CoreError),
}

/// A weight-file error becomes a model error (the weights are the model's).
impl From<avad_nn::NnError> for InferError {
    fn from(e: avad_nn::NnError) -> Self {
        Self::Model(e.into())
    }
}

impl InferError {
    /// An [`InferError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`InferError::Checkpoint`] for `path`.
    pub fn ckpt(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, InferError>;
