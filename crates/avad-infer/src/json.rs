//! The JSON files of the formats this crate defines (checkpoints, bundles): read with the parse error named (at
//! most [`MAX_JSON_BYTES`]), written atomically.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{InferError, Result};

/// Largest checkpoint or bundle JSON file read (real ones are a few KB; a training checkpoint with its
/// configuration and progress stays far below this).
pub const MAX_JSON_BYTES: usize = 16 << 20;

/// The bytes of a JSON file, refusing one over [`MAX_JSON_BYTES`] before reading it.
pub(crate) fn read_json_bytes(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| InferError::io(path, e))?
        .len();
    if len > MAX_JSON_BYTES as u64 {
        return Err(InferError::ckpt(
            path,
            format!("{len} bytes: larger than the cap of {MAX_JSON_BYTES} bytes for a JSON file"),
        ));
    }
    std::fs::read(path).map_err(|e| InferError::io(path, e))
}

/// Parses JSON bytes read from `path` (which names the file in errors); serde_json bounds nesting at 128 levels.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], path: &Path, what: &str) -> Result<T> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(InferError::ckpt(
            path,
            format!(
                "{} bytes: larger than the cap of {MAX_JSON_BYTES} bytes for a JSON file",
                bytes.len()
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| InferError::ckpt(path, format!("{what}: {e}")))
}

/// Writes `value` to `path` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| InferError::ckpt(path, e.to_string()))?;
    Ok(avad_core::files::write_atomic(path, text.as_bytes())?)
}
