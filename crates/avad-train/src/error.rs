//! Typed errors of the training crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, training, checkpointing, predicting or importing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration value or combination is invalid.
    #[error("invalid training config: {0}")]
    Config(String),
    /// A TOML config file could not be read or parsed.
    #[error("{path}: {msg}")]
    ConfigFile {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, incomplete or inconsistent.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// The optimiser state does not fit the model.
    #[error("optimizer state: {0}")]
    Optimizer(String),
    /// The data (lists, features, labels) cannot be used.
    #[error("data: {0}")]
    Data(String),
    /// An error of the model crate (shapes, weights, inputs).
    #[error(transparent)]
    Model(#[from] avad_model::ModelError),
    /// An error of the core crate (lists, npy, labels, metrics).
    #[error(transparent)]
    Core(#[from] avad_core::CoreError),
    /// An error of the CLIP crate (tokenizer, weights).
    #[error("CLIP: {0}")]
    Clip(String),
    /// Training was stopped on purpose by `stop_after_steps` (debugging / resume tests).
    #[error("stopped after {steps} steps as requested")]
    Stopped {
        /// Global step count at which training stopped.
        steps: u64,
    },
}

impl TrainError {
    /// An [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`TrainError::Checkpoint`] for `path`.
    pub fn ckpt(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        TrainError::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
