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
    /// A safetensors file could not be parsed.
    #[error("{path}: invalid safetensors: {msg}")]
    Safetensors {
        /// The file.
        path: String,
        /// The parser's message.
        msg: String,
    },
    /// A weight tensor is absent.
    #[error("missing tensor {name:?}{}", if .source_file.is_empty() { String::new() } else { format!(" in {}", .source_file) })]
    MissingTensor {
        /// The key that was looked up (prefix included).
        name: String,
        /// Where it was looked up.
        source_file: String,
    },
    /// A weight tensor has an unexpected shape.
    #[error("tensor {name:?} has shape {actual:?}, expected {expected:?}")]
    BadShape {
        /// The key.
        name: String,
        /// Found shape.
        actual: Vec<usize>,
        /// Wanted shape.
        expected: Vec<usize>,
    },
    /// A weight tensor has a dtype we cannot convert to f32.
    #[error("tensor {name:?} has unsupported dtype {dtype}")]
    BadDtype {
        /// The key.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
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
