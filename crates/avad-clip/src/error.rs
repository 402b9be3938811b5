//! Error type of the crate.

/// Everything that can go wrong loading or running CLIP.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// A malformed or unsupported config.
    #[error("config: {0}")]
    Config(String),
    /// A weight tensor is absent, mis-shaped or unreadable, or a weight file could not be parsed.
    #[error(transparent)]
    Weights(#[from] avad_nn::NnError),
    /// The weights follow neither the HF nor the OpenAI naming.
    #[error("{0}: neither Hugging Face CLIPModel nor OpenAI CLIP weight names found")]
    UnknownLayout(String),
    /// An input tensor or argument has the wrong shape/value.
    #[error("invalid input: {0}")]
    Input(String),
    /// An image could not be decoded.
    #[error("{path}: cannot decode image: {msg}")]
    Image {
        /// The file.
        path: String,
        /// The decoder's message.
        msg: String,
    },
}
