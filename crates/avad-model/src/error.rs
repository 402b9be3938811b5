//! Typed errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong when building, importing or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor the model needs is absent from the state dict.
    #[error("state dict has no tensor `{name}`")]
    MissingTensor {
        /// Full key name.
        name: String,
    },
    /// A tensor has a different shape than the configuration implies.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Full key name.
        name: String,
        /// Shape implied by the configuration.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
    },
    /// A tensor could not be converted to f32.
    #[error("tensor `{name}`: {msg}")]
    BadTensor {
        /// Full key name.
        name: String,
        /// What went wrong.
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
    /// A weights file could not be parsed.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// The configuration is inconsistent.
    #[error("invalid model config: {0}")]
    Config(String),
    /// The inputs of a forward pass do not fit the model.
    #[error("invalid model input: {0}")]
    Input(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
