//! The JSON files of the formats this crate defines (checkpoints, bundles): read with the parse error named,
//! written atomically.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{InferError, Result};

/// Reads `path` as JSON; a parse error is a checkpoint error of `path` that starts with `what`.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| InferError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| InferError::ckpt(path, format!("{what}: {e}")))
}

/// Writes `value` to `path` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| InferError::ckpt(path, e.to_string()))?;
    Ok(avad_core::files::write_atomic(path, text.as_bytes())?)
}
