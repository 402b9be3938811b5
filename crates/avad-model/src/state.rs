//! Named-tensor maps ("state dicts") with the official PyTorch key names, and their file formats.
//!
//! A [`StateDict`] is what model import and export go through: safetensors files (avad checkpoints, fixtures) and
//! PyTorch `.pth`/`.pt` zip pickles (official VadCLIP / AVadCLIP checkpoints, read with burn-store's reader).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::DType;

use crate::error::{ModelError, Result};

/// An ordered map from PyTorch-style key (`temporal.resblocks.0.attn.in_proj_weight`) to tensor data.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    tensors: BTreeMap<String, TensorData>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts (or replaces) one tensor.
    pub fn insert(&mut self, name: impl Into<String>, data: TensorData) {
        self.tensors.insert(name.into(), data);
    }

    /// The tensor stored under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&TensorData> {
        self.tensors.get(name)
    }

    /// Removes and returns the tensor stored under `name`.
    pub fn remove(&mut self, name: &str) -> Option<TensorData> {
        self.tensors.remove(name)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Iterates over `(key, data)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorData)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Moves every tensor of `other` into `self` (keys of `other` win).
    pub fn extend(&mut self, other: StateDict) {
        self.tensors.extend(other.tensors);
    }

    /// The tensors whose key starts with `prefix`, with the prefix removed (`"clipmodel."` → text-encoder keys).
    pub fn with_prefix_stripped(&self, prefix: &str) -> StateDict {
        StateDict {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
                .collect(),
        }
    }

    /// Parses a safetensors buffer; `origin` names it in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format {
            path: origin.to_path_buf(),
            msg: format!("not a safetensors file: {e}"),
        })?;
        let mut out = StateDict::new();
        for (name, view) in st.tensors() {
            use safetensors::Dtype as S;
            let dtype = match view.dtype() {
                S::F32 => DType::F32,
                S::F64 => DType::F64,
                S::F16 => DType::F16,
                S::BF16 => DType::BF16,
                S::I64 => DType::I64,
                S::I32 => DType::I32,
                S::I16 => DType::I16,
                S::I8 => DType::I8,
                S::U8 => DType::U8,
                other => {
                    return Err(ModelError::Format {
                        path: origin.to_path_buf(),
                        msg: format!("tensor `{name}` has unsupported dtype {other:?}"),
                    })
                }
            };
            let data =
                TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
            out.insert(name, data);
        }
        Ok(out)
    }

    /// Reads a safetensors file.
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// Reads a PyTorch `.pth`/`.pt` file (zip or legacy pickle) holding a state dict, or a training checkpoint dict
    /// whose `model_state_dict` entry is the state dict (the official `checkpoint.pth` layout).
    pub fn load_pytorch(path: impl AsRef<Path>) -> Result<Self> {
        use burn_store::pytorch::PytorchReader;
        let path = path.as_ref();
        let fmt = |e: &dyn std::fmt::Display| ModelError::Format {
            path: path.to_path_buf(),
            msg: format!("cannot read PyTorch file: {e}"),
        };
        let reader = PytorchReader::new(path).map_err(|e| fmt(&e))?;
        let reader = if reader
            .keys()
            .iter()
            .any(|k| k.starts_with("model_state_dict."))
        {
            PytorchReader::with_top_level_key(path, "model_state_dict").map_err(|e| fmt(&e))?
        } else {
            reader
        };
        let mut out = StateDict::new();
        for (name, snap) in reader.into_tensors() {
            let data = snap.to_data().map_err(|e| ModelError::BadTensor {
                name: name.clone(),
                msg: format!("{e:?}"),
            })?;
            out.insert(name, data);
        }
        Ok(out)
    }

    /// Reads `path` as safetensors when it ends in `.safetensors`, else as a PyTorch file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.extension().and_then(|e| e.to_str()) == Some("safetensors") {
            Self::load_safetensors(path)
        } else {
            Self::load_pytorch(path)
        }
    }

    /// Serialises to safetensors bytes (dtypes kept).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let mut views = Vec::with_capacity(self.tensors.len());
        for (name, data) in &self.tensors {
            use safetensors::Dtype as S;
            let dtype = match data.dtype {
                DType::F32 => S::F32,
                DType::F64 => S::F64,
                DType::F16 => S::F16,
                DType::BF16 => S::BF16,
                DType::I64 => S::I64,
                DType::I32 => S::I32,
                DType::I16 => S::I16,
                DType::I8 => S::I8,
                DType::U8 => S::U8,
                other => {
                    return Err(ModelError::BadTensor {
                        name: name.clone(),
                        msg: format!("dtype {other:?} cannot be written to safetensors"),
                    })
                }
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, data.shape.to_vec(), data.as_bytes())
                    .map_err(|e| ModelError::BadTensor {
                    name: name.clone(),
                    msg: e.to_string(),
                })?;
            views.push((name.clone(), view));
        }
        safetensors::serialize(views, &None).map_err(|e| ModelError::BadTensor {
            name: "<all>".into(),
            msg: e.to_string(),
        })
    }

    /// Writes a safetensors file atomically (temporary file in the same folder, then rename).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_safetensors_bytes()?;
        write_atomic(path, &bytes)
    }
}

/// Writes `bytes` to `path` atomically (avad-core's temp file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    avad_core::npy::write_atomic(path, bytes).map_err(|e| match e {
        avad_core::CoreError::Io { path, source } => ModelError::Io { path, source },
        other => ModelError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// Joins a key prefix and a name with a dot (an empty prefix adds nothing).
pub(crate) fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Reads tensors out of a [`StateDict`] by name with shape checks, remembering which keys were used.
pub struct Loader<'a, B: Backend> {
    sd: &'a StateDict,
    used: BTreeSet<String>,
    device: B::Device,
}

impl<'a, B: Backend> Loader<'a, B> {
    /// A loader over `sd` creating tensors on `device`.
    pub fn new(sd: &'a StateDict, device: &B::Device) -> Self {
        Self {
            sd,
            used: BTreeSet::new(),
            device: device.clone(),
        }
    }

    /// The device tensors are created on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// True when the state dict has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.sd.get(name).is_some()
    }

    /// The f32 tensor `name` with exactly `shape`.
    pub fn tensor<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<B, D>> {
        let data = self
            .sd
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
        // Scalars are stored with shape [] by PyTorch; accept [] for a requested [1].
        let got = data.shape.to_vec();
        let same = got == shape.to_vec() || (got.is_empty() && shape == [1; D] && D == 1);
        if !same {
            return Err(ModelError::ShapeMismatch {
                name: name.into(),
                expected: shape.to_vec(),
                got,
            });
        }
        let values: Vec<f32> = match data.dtype {
            DType::F32 => data.to_vec::<f32>(),
            _ => data.clone().convert::<f32>().to_vec::<f32>(),
        }
        .map_err(|e| ModelError::BadTensor {
            name: name.into(),
            msg: format!("{e:?}"),
        })?;
        self.used.insert(name.to_string());
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    /// Like [`Loader::tensor`], wrapped as a parameter.
    pub fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<B, D>>> {
        Ok(Param::from_tensor(self.tensor(name, shape)?))
    }

    /// Like [`Loader::param`], trying each name in turn (aliases such as TCN `conv1.*` / `net.0.*`).
    pub fn param_any<const D: usize>(
        &mut self,
        names: &[String],
        shape: [usize; D],
    ) -> Result<Param<Tensor<B, D>>> {
        for n in names {
            if self.contains(n) {
                // Mark aliases as used too.
                for other in names {
                    if self.contains(other) {
                        self.used.insert(other.clone());
                    }
                }
                return self.param(n, shape);
            }
        }
        Err(ModelError::MissingTensor {
            name: names.first().cloned().unwrap_or_default(),
        })
    }

    /// Marks a key as consumed without reading it (e.g. the unused `disAdj.sigma`).
    pub fn mark_used(&mut self, name: &str) {
        if self.contains(name) {
            self.used.insert(name.to_string());
        }
    }

    /// Keys of the state dict that no loader call consumed.
    pub fn unused_keys(&self) -> Vec<String> {
        self.sd
            .keys()
            .filter(|k| !self.used.contains(*k))
            .map(String::from)
            .collect()
    }
}

/// Appends a parameter's value to a state dict as f32 data.
pub(crate) fn put<B: Backend, const D: usize>(
    out: &mut StateDict,
    name: String,
    p: &Param<Tensor<B, D>>,
) {
    out.insert(name, p.val().into_data().convert::<f32>());
}
