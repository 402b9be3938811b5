//! Typed errors of weight files and weight loading; each names the file or the tensor.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or applying named weights.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A weight file could not be parsed.
    #[error("{source_file}: {msg}")]
    Format {
        /// The file (or in-memory label) concerned.
        source_file: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A tensor a module needs is absent.
    #[error("{source_file}: no tensor `{name}`")]
    MissingTensor {
        /// Full key.
        name: String,
        /// The file the weights came from.
        source_file: String,
    },
    /// Several tensors a module needs are absent (all of them named).
    #[error("{source_file}: missing {} tensors: {}", names.len(), preview(names))]
    MissingTensors {
        /// Every missing key.
        names: Vec<String>,
        /// The file the weights came from.
        source_file: String,
    },
    /// A tensor has another shape than the module declares.
    #[error("{source_file}: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    BadShape {
        /// Full key.
        name: String,
        /// Shape the module declares.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
        /// The file the weights came from.
        source_file: String,
    },
    /// A tensor could not be converted (dtype) or serialised.
    #[error("tensor `{name}`: {msg}")]
    BadTensor {
        /// Full key.
        name: String,
        /// What went wrong.
        msg: String,
    },
}

/// The first keys of a long list, and how many more there are.
fn preview(names: &[String]) -> String {
    const SHOW: usize = 8;
    let mut s = names
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOW {
        s.push_str(&format!(", … ({} more)", names.len() - SHOW));
    }
    s
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, NnError>;

impl From<avad_core::CoreError> for NnError {
    fn from(e: avad_core::CoreError) -> Self {
        match e {
            avad_core::CoreError::Io { path, source } => NnError::Io { path, source },
            other => NnError::Format {
                source_file: String::new(),
                msg: other.to_string(),
            },
        }
    }
}
