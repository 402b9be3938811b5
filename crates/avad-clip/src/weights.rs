//! Weight tensors by name: read from safetensors (f32/f16/bf16/f64 stored, converted to f32) or filled by a caller.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{backend::Backend, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::ClipError;

/// One host tensor: shape and row-major f32 values.
#[derive(Debug, Clone)]
pub struct RawTensor {
    /// Shape (PyTorch order).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// A name → tensor map that the CLIP modules load from. Other crates may fill it themselves (e.g. from a `.pt`
/// checkpoint) with [`WeightMap::insert`].
#[derive(Debug, Clone, Default)]
pub struct WeightMap {
    tensors: HashMap<String, RawTensor>,
    /// Where the tensors came from (for error messages).
    pub source: String,
}

impl WeightMap {
    /// An empty map; `source` names its origin in error messages.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            tensors: HashMap::new(),
            source: source.into(),
        }
    }

    /// Reads every tensor of a safetensors file, converting f16/bf16/f64 to f32.
    pub fn from_safetensors(path: &Path) -> Result<Self, ClipError> {
        let bytes = std::fs::read(path).map_err(|e| ClipError::Io {
            path: path.display().to_string(),
            error: e,
        })?;
        Self::from_safetensors_bytes(&bytes, &path.display().to_string())
    }

    /// Like [`WeightMap::from_safetensors`], from bytes in memory.
    pub fn from_safetensors_bytes(bytes: &[u8], source: &str) -> Result<Self, ClipError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| ClipError::Safetensors {
            path: source.to_string(),
            msg: e.to_string(),
        })?;
        let mut map = Self::new(source);
        for (name, view) in st.tensors() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                Dtype::F64 => raw
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                    .collect(),
                // Integer buffers (e.g. HF `position_ids`) are not weights: skip them.
                Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
                other => {
                    return Err(ClipError::BadDtype {
                        name,
                        dtype: format!("{other:?}"),
                    })
                }
            };
            map.insert(name, view.shape().to_vec(), data);
        }
        Ok(map)
    }

    /// Adds (or replaces) a tensor.
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors.insert(name.into(), RawTensor { shape, data });
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor of that name, if any.
    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.get(name)
    }

    /// All names (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The tensor `name`, required to have `shape` (a size-1 shape also matches a scalar and vice versa).
    pub fn require(&self, name: &str, shape: &[usize]) -> Result<&RawTensor, ClipError> {
        let t = self.get(name).ok_or_else(|| ClipError::MissingTensor {
            name: name.to_string(),
            source_file: self.source.clone(),
        })?;
        let numel: usize = shape.iter().product();
        let same = t.shape == shape
            || (numel == 1 && t.data.len() == 1 && t.shape.iter().product::<usize>() == 1);
        if !same {
            return Err(ClipError::BadShape {
                name: name.to_string(),
                actual: t.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        Ok(t)
    }

    /// Number of `{prefix}{i}.{probe}` entries for i = 0, 1, … (counts transformer blocks).
    pub fn count_blocks(&self, prefix: &str, probe: &str) -> usize {
        let mut n = 0;
        while self.contains(&format!("{prefix}{n}.{probe}")) {
            n += 1;
        }
        n
    }
}

/// Builds a burn tensor from host values.
pub(crate) fn to_tensor<B: Backend, const D: usize>(
    data: Vec<f32>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// Transposes a row-major `[rows, cols]` matrix.
pub(crate) fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}
