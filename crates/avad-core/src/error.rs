//! The one error type of `avad-core`: every variant names the file (or video) and the problem.

use std::path::PathBuf;

/// Result alias for `avad-core`.
pub type Result<T> = std::result::Result<T, CoreError>;

/// Errors from reading, validating and scoring data; each names the file or video concerned.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `.npy` file that cannot be read as a float array.
    #[error("{path}: not a valid .npy float array: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A list CSV that does not have the expected columns or rows.
    #[error("{path}: {reason}")]
    List {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An annotation file with a malformed line or a line that contradicts the list.
    #[error("{path}: {reason}")]
    Annotation {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Scores for a video that are missing or malformed.
    #[error("video {video}: {reason}")]
    Scores {
        /// The video name.
        video: String,
        /// What is wrong.
        reason: String,
    },
    /// A metric that is undefined for its input (e.g. ROC-AUC with one class only).
    #[error("metric {metric}: {reason}")]
    Metric {
        /// The metric's name.
        metric: &'static str,
        /// Why it is undefined.
        reason: String,
    },
    /// A bad argument (an empty data set, an unknown label map, ...).
    #[error("{0}")]
    Invalid(String),
}

impl CoreError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}
