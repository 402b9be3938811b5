//! Named weight tensors from the original `Wav2CLIP.pt` (PyTorch zip/pickle, read with `burn_store::pytorch`) or
//! from safetensors (f32/f16/bf16), converted to f32.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use crate::{Result, Wav2ClipError};

/// One tensor as stored in a weight file, converted to f32 (integer tensors too).
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A state dict: tensor key → values, and the file it came from (for error messages).
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    /// Tensors by their full key (e.g. `audio_encoder.layer1.0.conv1.weight`).
    pub tensors: BTreeMap<String, RawTensor>,
    /// The file the tensors were read from (or a label for in-memory dicts).
    pub source: PathBuf,
}

impl StateDict {
    /// Reads a PyTorch checkpoint (`.pt`/`.pth`, zip or legacy pickle) or a safetensors file, chosen by content.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Wav2ClipError::Io {
            path: path.into(),
            source,
        })?;
        if looks_like_safetensors(&bytes) {
            Self::from_safetensors_bytes(&bytes, path)
        } else {
            Self::from_pytorch(path)
        }
    }

    /// Parses safetensors bytes; `path` only labels errors.
    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let err = |reason: String| Wav2ClipError::Weights {
            path: path.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("safetensors: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view_to_f32(&view).map_err(|r| err(format!("tensor `{name}`: {r}")))?;
            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self {
            tensors,
            source: path.into(),
        })
    }

    /// Reads a PyTorch checkpoint with `burn_store::pytorch::PytorchReader` (no Python needed).
    pub fn from_pytorch(path: &Path) -> Result<Self> {
        let err = |reason: String| Wav2ClipError::Weights {
            path: path.into(),
            reason,
        };
        let reader = burn_store::pytorch::PytorchReader::new(path).map_err(|e| {
            err(format!(
                "not a readable PyTorch checkpoint or safetensors file: {e}"
            ))
        })?;
        let mut tensors = BTreeMap::new();
        for (name, snap) in reader.tensors() {
            let data = snap
                .to_data()
                .map_err(|e| err(format!("tensor `{name}`: {e:?}")))?;
            let shape = data.shape.to_vec();
            let values = data
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| err(format!("tensor `{name}`: {e:?}")))?;
            tensors.insert(
                name.clone(),
                RawTensor {
                    shape,
                    data: values,
                },
            );
        }
        Ok(Self {
            tensors,
            source: path.into(),
        })
    }

    /// The tensor `key` with exactly `shape`, or a [`Wav2ClipError::MissingTensors`] / [`Wav2ClipError::BadShape`].
    pub fn get(&self, key: &str, shape: &[usize]) -> Result<&RawTensor> {
        let t = self
            .tensors
            .get(key)
            .ok_or_else(|| Wav2ClipError::MissingTensors {
                path: self.source.clone(),
                keys: vec![key.to_string()],
            })?;
        if t.shape != shape {
            return Err(Wav2ClipError::BadShape {
                path: self.source.clone(),
                key: key.into(),
                found: t.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        Ok(t)
    }

    /// Checks every `(key, shape)` at once: all missing keys in one error, else the first misshaped tensor.
    pub fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let missing: Vec<String> = expected
            .iter()
            .filter(|(k, _)| !self.tensors.contains_key(k))
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            return Err(Wav2ClipError::MissingTensors {
                path: self.source.clone(),
                keys: missing,
            });
        }
        for (k, s) in expected {
            self.get(k, s)?;
        }
        Ok(())
    }

    /// Serialises the dict as safetensors (f16 or f32 storage) to `path`, atomically (temp file + rename).
    /// With `f16`, the spectrogram window buffer stays f32 (its f16 rounding would shift near-silent bins).
    pub fn save_safetensors(&self, path: &Path, f16: bool) -> Result<()> {
        let io = |source| Wav2ClipError::Io {
            path: path.into(),
            source,
        };
        let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                let bytes = if f16 && k != crate::model::WINDOW_KEY {
                    t.data
                        .iter()
                        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                        .collect()
                } else {
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect()
                };
                (k.clone(), t.shape.clone(), bytes)
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bufs
            .iter()
            .map(|(k, s, b)| {
                let dtype = if f16 && k != crate::model::WINDOW_KEY {
                    Dtype::F16
                } else {
                    Dtype::F32
                };
                TensorView::new(dtype, s.clone(), b)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| Wav2ClipError::Weights {
                        path: path.into(),
                        reason: format!("tensor `{k}`: {e}"),
                    })
            })
            .collect::<Result<_>>()?;
        let bytes = safetensors::serialize(views, &None).map_err(|e| Wav2ClipError::Weights {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("tmp-write");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Safetensors starts with a little-endian u64 header length followed by a JSON object.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    if bytes.len() < 9 {
        return false;
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    n > 0 && n <= (bytes.len() - 8) as u64 && bytes[8] == b'{'
}

fn view_to_f32(view: &TensorView<'_>) -> std::result::Result<Vec<f32>, String> {
    let b = view.data();
    let v = match view.dtype() {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::I64 => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::I32 => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        other => return Err(format!("unsupported dtype {other:?}")),
    };
    Ok(v)
}
