//! Fixed-length feature sequences as the official code makes them: `process_feat` for training and
//! `process_split` (256-snippet chunks) for testing (`nwpu-zxr/VadCLIP: src/utils/tools.py`).

/// The fixed sequence length of VadCLIP / AVadCLIP (`visual_length`).
pub const VISUAL_LENGTH: usize = 256;

/// A [T, D] row-major feature matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Number of rows (snippets).
    pub rows: usize,
    /// Row width (512 for CLIP and Wav2CLIP features).
    pub dim: usize,
    /// `rows * dim` values, row-major.
    pub data: Vec<f32>,
}

impl Features {
    /// Wraps row-major data; `data.len()` must be `rows * dim`.
    pub fn new(rows: usize, dim: usize, data: Vec<f32>) -> Self {
        assert_eq!(rows * dim, data.len(), "Features::new: data length");
        Self { rows, dim, data }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// `process_feat`: a sequence longer than `length` is averaged over `length` equal bins (`uniform_extract`);
/// a shorter one is zero-padded. Returns the [length, D] data and the valid length (≤ `length`).
pub fn process_feat(feat: &Features, length: usize) -> (Features, usize) {
    let t = feat.rows;
    let d = feat.dim;
    if t > length {
        // r = np.linspace(0, T, length + 1, dtype=np.int32): i * (T / length) in f64, truncated.
        let step = t as f64 / length as f64;
        let r: Vec<usize> = (0..=length)
            .map(|i| {
                if i == length {
                    t
                } else {
                    (i as f64 * step) as usize
                }
            })
            .collect();
        let mut out = vec![0.0f32; length * d];
        for i in 0..length {
            let dst = &mut out[i * d..(i + 1) * d];
            if r[i] != r[i + 1] {
                // `np.mean(feat[a:b], 0)` on float32: an axis-0 reduction sums the rows one after the other in
                // float32 (no pairwise summation across rows), then divides in float32. Accumulating in f64
                // instead differs in the last bit for about a third of the values.
                let n = (r[i + 1] - r[i]) as f32;
                for row in r[i]..r[i + 1] {
                    for (o, &v) in dst.iter_mut().zip(feat.row(row)) {
                        *o += v;
                    }
                }
                for o in dst.iter_mut() {
                    *o /= n;
                }
            } else {
                dst.copy_from_slice(feat.row(r[i]));
            }
        }
        (Features::new(length, d, out), length)
    } else {
        let mut out = feat.data.clone();
        out.resize(length * d, 0.0);
        (Features::new(length, d, out), t)
    }
}

/// `process_split`: the test-time chunks of `length` rows, the last one zero-padded, each with the valid length
/// the official test script passes to the model ([`chunk_lengths`]). As upstream, a T that is an exact multiple of
/// `length` gets one extra all-zero chunk; outputs are cut to the first T rows, so it does not change scores.
pub fn process_split(feat: &Features, length: usize) -> Vec<(Features, usize)> {
    let t = feat.rows;
    let d = feat.dim;
    let lens = chunk_lengths(t, length);
    lens.iter()
        .enumerate()
        .map(|(c, &valid)| {
            let start = c * length;
            let end = (start + length).min(t);
            let mut data = if start < t {
                feat.data[start * d..end * d].to_vec()
            } else {
                Vec::new()
            };
            data.resize(length * d, 0.0);
            (Features::new(length, d, data), valid)
        })
        .collect()
}

/// The per-chunk valid lengths exactly as the official test loop computes them (`src/xd_test.py`):
/// ⌊T/length⌋+1 entries; `length` is subtracted only while the remainder is *greater* than `length`, so
/// T = 300 → [256, 44] and, quirk, T = 512 → [256, 256, 256] (the trailing all-zero chunk gets a full length).
pub fn chunk_lengths(t: usize, length: usize) -> Vec<usize> {
    let n = t / length + 1;
    let mut remaining = t;
    (0..n)
        .map(|_| {
            if remaining > length {
                remaining -= length;
                length
            } else {
                remaining
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(t: usize, d: usize) -> Features {
        Features::new(t, d, (0..t * d).map(|v| v as f32).collect())
    }

    #[test]
    fn short_sequences_are_zero_padded() {
        let (f, len) = process_feat(&seq(3, 2), 5);
        assert_eq!(len, 3);
        assert_eq!(f.data, vec![0., 1., 2., 3., 4., 5., 0., 0., 0., 0.]);
    }

    #[test]
    fn long_sequences_are_bin_averaged_like_numpy() {
        // T = 5 → 2 bins: linspace(0,5,3) = [0, 2.5, 5] → int32 [0, 2, 5]: rows {0,1} and {2,3,4}.
        let (f, len) = process_feat(&seq(5, 1), 2);
        assert_eq!(len, 2);
        assert_eq!(f.data, vec![0.5, 3.0]);
        // T = 300 → 256 bins, each of 1 or 2 rows; the mean of all bins' first rows stays ordered.
        let (f, _) = process_feat(&seq(300, 1), 256);
        assert!(f.data.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            f.data[255],
            299.0 - 0.5 * ((300 - (255.0f64 * 300.0 / 256.0) as usize) - 1) as f32
        );
    }

    #[test]
    fn bin_means_are_float32_sums_like_numpy() {
        // numpy 2.4: np.mean(np.float32([[0.028], [0.754], [0.538]]), 0) is 0.4399999678134918 (bits 1054951341);
        // the f64 mean rounded to f32 would be one ulp higher (1054951342).
        let f = Features::new(3, 1, vec![0.028, 0.754, 0.538]);
        let (out, len) = process_feat(&f, 1);
        assert_eq!(len, 1);
        assert_eq!(out.data[0].to_bits(), 1054951341, "{}", out.data[0]);
    }

    #[test]
    fn split_adds_the_upstream_zero_chunk_on_exact_multiples() {
        assert_eq!(chunk_lengths(10, 256), vec![10]);
        assert_eq!(chunk_lengths(300, 256), vec![256, 44]);
        assert_eq!(chunk_lengths(256, 256), vec![256, 256]);
        assert_eq!(chunk_lengths(512, 256), vec![256, 256, 256]);
        let chunks = process_split(&seq(300, 1), 256);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].0.data[43], 299.0);
        assert_eq!(chunks[1].0.data[44], 0.0);
    }
}
