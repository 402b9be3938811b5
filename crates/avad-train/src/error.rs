//! Typed errors of the training crate.

use std::path::PathBuf;

use avad_infer::InferError;

/// Everything that can go wrong while configuring, training, checkpointing, importing or benchmarking.
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
    /// The optimiser state does not fit the model.
    #[error("optimizer state: {0}")]
    Optimizer(String),
    /// The data (lists, features, labels) cannot be used.
    #[error("data: {0}")]
    Data(String),
    /// An error of the inference crate: reading or writing a file, a checkpoint that is missing, incomplete or
    /// inconsistent (the checkpoint format is avad-infer's), feature files, prediction.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// The total loss of a training step is not finite; the step was not applied.
    #[error("loss is {loss}")]
    NonFiniteLoss {
        /// The total loss.
        loss: f64,
    },
    /// A benchmark cannot run as asked (arguments, backend).
    #[error("{0}")]
    Bench(String),
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

/// A weight-file error becomes a model error (the weights are the model's).
impl From<avad_nn::NnError> for TrainError {
    fn from(e: avad_nn::NnError) -> Self {
        Self::Model(e.into())
    }
}

impl TrainError {
    /// Reading or writing `path` failed ([`InferError::Io`]).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InferError::io(path, source).into()
    }

    /// The checkpoint `path` is missing, incomplete or inconsistent ([`InferError::Checkpoint`]).
    pub fn ckpt(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        InferError::ckpt(path, msg).into()
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
