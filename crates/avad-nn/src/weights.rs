//! [`WeightMap`]: named tensors as a weight file stores them (key → dtype, shape, bytes), read from safetensors or
//! PyTorch `.pt`/`.pth` files (zip or legacy format, by avad's own pickle reader in [`pytorch`], which executes
//! nothing and accepts only an allow-list of opcodes and globals) and written to safetensors atomically.
//! [`WeightMap::f32_values`] is the one place stored f16/bf16/f64 values become f32.
//!
//! Every reader has a `*_bytes(bytes, source)` form (what the `load*` functions call after reading the file, and
//! what the fuzz targets drive); `source` only names the file in errors. Limits: see `docs/hostile-input.md`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, TensorData};

use crate::error::{NnError, Result};

pub mod pytorch;

/// Largest safetensors JSON header accepted (the `safetensors` crate's own cap is 100 MB).
pub const MAX_SAFETENSORS_HEADER: usize = 100_000_000;

/// An ordered map from key (PyTorch naming: `temporal.resblocks.0.attn.in_proj_weight`) to tensor data, with the
/// file it came from for error messages.
#[derive(Debug, Clone, Default)]
pub struct WeightMap {
    tensors: BTreeMap<String, TensorData>,
    source: String,
}

impl WeightMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map whose `source` names its origin in error messages.
    pub fn with_source(source: impl Into<String>) -> Self {
        Self {
            tensors: BTreeMap::new(),
            source: source.into(),
        }
    }

    /// Where the tensors came from (a path or a label).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Inserts (or replaces) one tensor.
    pub fn insert(&mut self, name: impl Into<String>, data: TensorData) {
        self.tensors.insert(name.into(), data);
    }

    /// Inserts (or replaces) one f32 tensor from row-major values.
    pub fn insert_f32(&mut self, name: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) {
        self.insert(name, TensorData::new(values, shape));
    }

    /// The tensor stored under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&TensorData> {
        self.tensors.get(name)
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|d| d.shape.to_vec())
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

    /// Iterates over `(key, data)` pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorData)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Moves every tensor of `other` into `self` (keys of `other` win).
    pub fn extend(&mut self, other: WeightMap) {
        self.tensors.extend(other.tensors);
    }

    /// The tensors whose key starts with `prefix`, with the prefix removed (`"clipmodel."` → text-tower keys).
    pub fn with_prefix_stripped(&self, prefix: &str) -> WeightMap {
        WeightMap {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
                .collect(),
            source: self.source.clone(),
        }
    }

    /// Every tensor with `prefix` put in front of its key.
    pub fn with_prefix_added(self, prefix: &str) -> WeightMap {
        WeightMap {
            tensors: self
                .tensors
                .into_iter()
                .map(|(k, v)| (format!("{prefix}{k}"), v))
                .collect(),
            source: self.source,
        }
    }

    /// Number of `{prefix}{i}.{probe}` entries for i = 0, 1, … (counts transformer blocks).
    pub fn count_blocks(&self, prefix: &str, probe: &str) -> usize {
        let mut n = 0;
        while self.contains(&format!("{prefix}{n}.{probe}")) {
            n += 1;
        }
        n
    }

    /// The values of tensor `name` as f32, whatever the stored dtype: the one decoder of stored f16 / bf16 / f64 /
    /// integer values.
    pub fn f32_values(&self, name: &str) -> Result<Vec<f32>> {
        let data = self.get(name).ok_or_else(|| self.missing(name))?;
        decode_f32(name, data)
    }

    /// The values of tensor `name` as f32, required to have `shape` (a one-element tensor also matches `[]`/`[1]`).
    pub fn require(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let data = self.get(name).ok_or_else(|| self.missing(name))?;
        check_shape(name, &data.shape, shape, &self.source)?;
        decode_f32(name, data)
    }

    /// The error for an absent tensor.
    pub fn missing(&self, name: &str) -> NnError {
        NnError::MissingTensor {
            name: name.to_string(),
            source_file: self.source.clone(),
        }
    }

    /// Reads a weight file, choosing the format by content: safetensors, else a PyTorch file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses a weight file's bytes, choosing the format by content (safetensors, else PyTorch); `source` names
    /// the file in errors. The entry point of `WeightMap::load` and of the fuzz target `pytorch`.
    pub fn from_bytes(bytes: &[u8], source: impl AsRef<Path>) -> Result<Self> {
        if is_safetensors(bytes) {
            Self::from_safetensors_bytes(bytes, source)
        } else {
            Self::from_pytorch_bytes(bytes, source)
        }
    }

    /// Reads a safetensors file.
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// Parses a safetensors buffer, keeping each tensor's dtype; `source` names it in errors. The header's offsets
    /// and shapes are checked against the buffer before anything is copied (by the `safetensors` crate; the
    /// header is at most [`MAX_SAFETENSORS_HEADER`] bytes).
    pub fn from_safetensors_bytes(bytes: &[u8], source: impl AsRef<Path>) -> Result<Self> {
        let source = &source.as_ref().display().to_string();
        let bad = |msg: String| NnError::Format {
            source_file: source.to_string(),
            msg,
        };
        if bytes.len() >= 8 {
            let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
            if n > MAX_SAFETENSORS_HEADER as u64 || n > (bytes.len() - 8) as u64 {
                return Err(bad(format!(
                    "not a safetensors file: header length {n} exceeds the file ({} bytes) or the cap of {MAX_SAFETENSORS_HEADER}",
                    bytes.len()
                )));
            }
        }
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let mut out = WeightMap::with_source(source);
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
                    return Err(bad(format!(
                        "tensor `{name}` has unsupported dtype {other:?}"
                    )))
                }
            };
            // The crate checked that the data range matches shape × dtype and lies inside the buffer; check the
            // element count again before copying (nothing is allocated that the file does not hold).
            let numel = view
                .shape()
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d));
            let elem = match dtype {
                DType::F64 | DType::I64 => 8,
                DType::F32 | DType::I32 => 4,
                DType::F16 | DType::BF16 | DType::I16 => 2,
                _ => 1,
            };
            if numel.and_then(|n| n.checked_mul(elem)) != Some(view.data().len()) {
                return Err(bad(format!(
                    "tensor `{name}`: shape {:?} does not match its {} data bytes",
                    view.shape(),
                    view.data().len()
                )));
            }
            let data =
                TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
            out.insert(name, data);
        }
        Ok(out)
    }

    /// Reads a PyTorch `.pth`/`.pt` file (zip or legacy format) holding a state dict, or a training checkpoint
    /// dict whose `model_state_dict` entry is the state dict (the official `checkpoint.pth` layout).
    pub fn load_pytorch(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        Self::from_pytorch_bytes(&bytes, path)
    }

    /// Parses the bytes of a PyTorch file with [`pytorch`]'s reader (allow-listed opcodes and globals, nothing
    /// executed, every size checked against the file); `source` names the file in errors. Nested dicts are
    /// flattened with `.`; when keys start with `model_state_dict.`, only that state dict is kept.
    pub fn from_pytorch_bytes(bytes: &[u8], source: impl AsRef<Path>) -> Result<Self> {
        let source = source.as_ref().display().to_string();
        let tensors = pytorch::parse_pytorch(bytes).map_err(|msg| NnError::Format {
            source_file: source.clone(),
            msg: format!("not a readable PyTorch checkpoint or safetensors file: {msg}"),
        })?;
        let nested = tensors
            .iter()
            .any(|(k, _)| k.starts_with("model_state_dict."));
        let mut out = WeightMap::with_source(source);
        for (name, data) in tensors {
            if nested {
                if let Some(inner) = name.strip_prefix("model_state_dict.") {
                    out.insert(inner, data);
                }
            } else {
                out.insert(name, data);
            }
        }
        Ok(out)
    }

    /// Serialises to safetensors bytes, keeping each tensor's dtype.
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
                    return Err(NnError::BadTensor {
                        name: name.clone(),
                        msg: format!("dtype {other:?} cannot be written to safetensors"),
                    })
                }
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, data.shape.to_vec(), data.as_bytes())
                    .map_err(|e| NnError::BadTensor {
                    name: name.clone(),
                    msg: e.to_string(),
                })?;
            views.push((name.clone(), view));
        }
        safetensors::serialize(views, &None).map_err(|e| NnError::BadTensor {
            name: "<all>".into(),
            msg: e.to_string(),
        })
    }

    /// Writes a safetensors file atomically (temporary file beside it, fsync, rename).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        Ok(avad_core::files::write_atomic(path.as_ref(), &bytes)?)
    }

    /// A copy with every floating-point tensor stored as f16, except the keys in `keep_f32` (for example a buffer
    /// whose f16 rounding would matter).
    pub fn to_f16(&self, keep_f32: &[&str]) -> Result<WeightMap> {
        let mut out = WeightMap::with_source(self.source.clone());
        for (name, data) in &self.tensors {
            let is_float = matches!(
                data.dtype,
                DType::F32 | DType::F64 | DType::F16 | DType::BF16
            );
            let data = if is_float && !keep_f32.contains(&name.as_str()) {
                let v: Vec<half::f16> = decode_f32(name, data)?
                    .into_iter()
                    .map(half::f16::from_f32)
                    .collect();
                TensorData::new(v, data.shape.clone())
            } else {
                data.clone()
            };
            out.insert(name.clone(), data);
        }
        Ok(out)
    }
}

/// Checks a stored shape against a declared one; a one-element tensor matches `[]` and `[1]` alike (PyTorch stores
/// scalars with shape `[]`).
pub fn check_shape(name: &str, got: &[usize], expected: &[usize], source: &str) -> Result<()> {
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let same = got == expected || (numel(got) == 1 && numel(expected) == 1 && got.len() <= 1);
    if same {
        Ok(())
    } else {
        Err(NnError::BadShape {
            name: name.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
            source_file: source.to_string(),
        })
    }
}

/// Decodes stored values to f32 (burn's conversion, which rounds f64 and widens f16/bf16 and integers exactly).
fn decode_f32(name: &str, data: &TensorData) -> Result<Vec<f32>> {
    let converted;
    let data = if data.dtype == DType::F32 {
        data
    } else {
        converted = data.clone().convert::<f32>();
        &converted
    };
    data.to_vec::<f32>().map_err(|e| NnError::BadTensor {
        name: name.to_string(),
        msg: format!("{e:?}"),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Safetensors starts with a little-endian u64 header length followed by a JSON object.
fn is_safetensors(bytes: &[u8]) -> bool {
    if bytes.len() < 9 {
        return false;
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    n > 0 && n <= (bytes.len() - 8) as u64 && bytes[8] == b'{'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_keeps_dtypes_and_decodes_once() {
        let mut m = WeightMap::with_source("mem");
        m.insert_f32("a", vec![2], vec![1.5, -2.0]);
        m.insert(
            "h",
            TensorData::new(
                vec![half::f16::from_f32(0.25), half::f16::from_f32(3.0)],
                [2],
            ),
        );
        m.insert("b", TensorData::new(vec![half::bf16::from_f32(-1.0)], [1]));
        m.insert("i", TensorData::new(vec![7i64, 9], [2]));
        let bytes = m.to_safetensors_bytes().unwrap();
        let back = WeightMap::from_safetensors_bytes(&bytes, "mem2").unwrap();
        assert_eq!(back.get("h").unwrap().dtype, DType::F16);
        assert_eq!(back.f32_values("a").unwrap(), vec![1.5, -2.0]);
        assert_eq!(back.f32_values("h").unwrap(), vec![0.25, 3.0]);
        assert_eq!(back.f32_values("b").unwrap(), vec![-1.0]);
        assert_eq!(back.f32_values("i").unwrap(), vec![7.0, 9.0]);
        assert_eq!(back.require("b", &[]).unwrap(), vec![-1.0]);
        let e = back.require("a", &[3]).unwrap_err().to_string();
        assert!(
            e.contains("mem2") && e.contains("`a`") && e.contains("[3]"),
            "{e}"
        );
        let e = back.require("zz", &[1]).unwrap_err().to_string();
        assert!(e.contains("no tensor `zz`"), "{e}");
    }

    #[test]
    fn load_chooses_the_format_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = WeightMap::with_source("mem");
        m.insert_f32("x.weight", vec![1, 2], vec![1.0, 2.0]);
        let p = dir.path().join("weights.pt"); // misleading extension: content decides
        m.save_safetensors(&p).unwrap();
        let back = WeightMap::load(&p).unwrap();
        assert_eq!(back.f32_values("x.weight").unwrap(), vec![1.0, 2.0]);
        let junk = dir.path().join("junk.pth");
        std::fs::write(&junk, b"definitely not a weight file").unwrap();
        let e = WeightMap::load(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.pth"), "{e}");
    }

    #[test]
    fn f16_copy_keeps_listed_keys() {
        let mut m = WeightMap::with_source("mem");
        m.insert_f32("w", vec![1], vec![0.1]);
        m.insert_f32("window", vec![1], vec![0.1]);
        let h = m.to_f16(&["window"]).unwrap();
        assert_eq!(h.get("w").unwrap().dtype, DType::F16);
        assert_eq!(h.get("window").unwrap().dtype, DType::F32);
    }
}
