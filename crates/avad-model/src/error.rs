//! Typed errors of the model crate.

/// Everything that can go wrong when building, importing or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A weight is absent, mis-shaped or unreadable, or a weight file could not be read.
    #[error(transparent)]
    Weights(#[from] avad_nn::NnError),
    /// The CLIP text tower rejected its weights or inputs.
    #[error(transparent)]
    Clip(#[from] avad_clip::ClipError),
    /// The configuration is inconsistent.
    #[error("invalid model config: {0}")]
    Config(String),
    /// The inputs of a forward pass do not fit the model.
    #[error("invalid model input: {0}")]
    Input(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
