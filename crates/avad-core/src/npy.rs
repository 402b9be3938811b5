//! `.npy` reading (float32/float16/float64, C or Fortran order, 1-D or 2-D) and atomic float32 writing.
//!
//! Reading is strict about sizes, for files from strangers: the header may declare at most [`MAX_NPY_DIMS`]
//! dimensions, the element count is computed with checked arithmetic, and the data the shape needs must be in the
//! file before anything is allocated (an `.npy` declaring shape `(10^12, 512)` is an error, not a 2 TB allocation).

use std::path::Path;

use crate::files::write_atomic;
use crate::{CoreError, Result};

/// A float array read from a `.npy` file, converted to f32 in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape as stored (1-D: `[n]`, 2-D: `[rows, cols]`).
    pub shape: Vec<usize>,
    /// The values in row-major order.
    pub data: Vec<f32>,
}

impl NpyArray {
    /// Number of rows (the first dimension; a 0-D array has one).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Number of columns of a 2-D array (1 for a 1-D array).
    pub fn cols(&self) -> usize {
        if self.shape.len() >= 2 {
            self.shape[1..].iter().product()
        } else {
            1
        }
    }

    /// Row `i` of a 2-D array.
    pub fn row(&self, i: usize) -> &[f32] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }
}

/// Most dimensions a `.npy` header may declare (NumPy's own limit is 64).
pub const MAX_NPY_DIMS: usize = 32;

/// Reads a `.npy` file of float16, float32 or float64 values (either byte order, C or Fortran order).
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    parse_npy_bytes(&bytes, path)
}

/// Parses the bytes of a `.npy` file; `path` only names the file in the error (the entry point of [`read_npy`]
/// and of the fuzz target `npy`).
pub fn parse_npy_bytes(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    parse_npy(bytes).map_err(|reason| CoreError::Npy {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses the bytes of a `.npy` file; the error is a human-readable reason.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic (not a .npy file)".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header_end = start + header_len;
    if bytes.len() < header_end {
        return Err("truncated header".into());
    }
    let header = std::str::from_utf8(&bytes[start..header_end])
        .map_err(|_| "header is not text".to_string())?;
    let descr = header_value(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = header_value(header, "fortran_order")
        .ok_or("header has no 'fortran_order'")?
        .starts_with("True");
    let shape = parse_shape(header).ok_or("header has no readable 'shape'")?;
    if shape.len() > MAX_NPY_DIMS {
        return Err(format!(
            "field 'shape' declares {} dimensions (at most {MAX_NPY_DIMS})",
            shape.len()
        ));
    }
    let (little, kind, size) = parse_descr(descr)?;
    let body = &bytes[header_end..];
    let needed = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|count| count.checked_mul(size))
        .ok_or_else(|| {
            format!(
                "field 'shape' {shape:?} is too large: its byte size overflows (the file has {} data bytes)",
                body.len()
            )
        })?;
    let count = needed / size;
    if body.len() < needed {
        return Err(format!(
            "truncated data: field 'shape' {shape:?} needs {needed} bytes, file has {}",
            body.len()
        ));
    }
    let mut data = Vec::with_capacity(count);
    for chunk in body[..needed].chunks_exact(size) {
        let v = match (kind, size) {
            ('f', 2) => {
                let b = [chunk[0], chunk[1]];
                let bits = if little {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                };
                half::f16::from_bits(bits).to_f32()
            }
            ('f', 4) => {
                let b = [chunk[0], chunk[1], chunk[2], chunk[3]];
                if little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                }
            }
            ('f', 8) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                (if little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }) as f32
            }
            _ => unreachable!("checked by parse_descr"),
        };
        data.push(v);
    }
    if fortran && shape.len() >= 2 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(NpyArray { shape, data })
}

fn parse_descr(descr: &str) -> std::result::Result<(bool, char, usize), String> {
    let mut chars = descr.chars();
    let order = chars.next().ok_or("empty dtype")?;
    let little = match order {
        '<' | '|' | '=' => true,
        '>' => false,
        _ => return Err(format!("unsupported dtype '{descr}'")),
    };
    let kind = chars.next().ok_or("empty dtype")?;
    let size: usize = chars
        .as_str()
        .parse()
        .map_err(|_| format!("unsupported dtype '{descr}'"))?;
    if kind != 'f' || !matches!(size, 2 | 4 | 8) {
        return Err(format!(
            "unsupported dtype '{descr}': expected float16, float32 or float64"
        ));
    }
    Ok((little, kind, size))
}

/// Finds `'key': value` in the header dict and returns the raw value text up to the next comma at depth 0.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let pos = header.find(&pat)? + pat.len();
    let rest = header[pos..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let pos = header.find("'shape':")?;
    let rest = &header[pos..];
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

fn fortran_to_c(data: &[f32], shape: &[usize]) -> Vec<f32> {
    // Column-major [d0, d1, ...] → row-major. Strides in Fortran order: s0 = 1, s1 = d0, s2 = d0*d1, ...
    let n = data.len();
    let mut out = vec![0.0; n];
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    for (c_pos, slot) in out.iter_mut().enumerate() {
        let mut rem = c_pos;
        for d in (0..nd).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        let mut f_pos = 0;
        let mut stride = 1;
        for d in 0..nd {
            f_pos += idx[d] * stride;
            stride *= shape[d];
        }
        *slot = data[f_pos];
    }
    out
}

/// Encodes a float32 C-order array as `.npy` version 1.0 bytes.
pub fn encode_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let shape_txt = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Pad so that the data starts at a multiple of 64 bytes, ending the header with '\n'.
    let total = 10 + header.len() + 1;
    let pad = (64 - total % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a float32 array as `.npy`, atomically (temp file in the same folder, then rename).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(CoreError::Invalid(format!(
            "{}: shape {shape:?} does not match {} values",
            path.display(),
            data.len()
        )));
    }
    write_atomic(path, &encode_npy_f32(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_f32() {
        let bytes = encode_npy_f32(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.row(1), &[4., 5., 6.]);
        // The header pads to a multiple of 64 bytes, so only the 24 data bytes are left over.
        assert_eq!(bytes.len() % 64, 24);
    }

    fn handmade(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_f16_f64_big_endian_and_fortran() {
        let body: Vec<u8> = [1.0f64, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&handmade("<f8", false, "(2,)", &body))
                .unwrap()
                .data,
            vec![1.0, 2.5]
        );
        let body: Vec<u8> = [half::f16::from_f32(0.5), half::f16::from_f32(-2.0)]
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect();
        assert_eq!(
            parse_npy(&handmade("<f2", false, "(1, 2)", &body))
                .unwrap()
                .data,
            vec![0.5, -2.0]
        );
        let body: Vec<u8> = [3.0f32].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(
            parse_npy(&handmade(">f4", false, "(1,)", &body))
                .unwrap()
                .data,
            vec![3.0]
        );
        // Fortran [2,3]: columns stored first: [[1,2,3],[4,5,6]] → 1,4,2,5,3,6.
        let body: Vec<u8> = [1f32, 4., 2., 5., 3., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse_npy(&handmade("<f4", true, "(2, 3)", &body)).unwrap();
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn rejects_int_truncated_and_garbage() {
        let body = [0u8; 8];
        let e = parse_npy(&handmade("<i4", false, "(2,)", &body)).unwrap_err();
        assert!(e.contains("unsupported dtype '<i4'"), "{e}");
        let e = parse_npy(&handmade("<f4", false, "(4,)", &body)).unwrap_err();
        assert!(e.contains("truncated data"), "{e}");
        assert!(parse_npy(b"hello world, not numpy").is_err());
    }
}
