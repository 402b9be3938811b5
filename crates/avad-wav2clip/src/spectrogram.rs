//! Wav2CLIP front end: torchaudio `Spectrogram(n_fft=512, hop_length=353)`, `log(x + 1e-7)`, standardisation.
//!
//! Semantics reproduced from `wav2clip/model/resnet.py` (`ResNet.forward`) and torchaudio's `spectrogram`
//! (`torch.stft` with `center=True`, `pad_mode="reflect"`, onesided, power 2, no normalisation): the signal is
//! reflect-padded by 256 on both sides, framed every 353 samples, multiplied by the (periodic Hann) window and
//! transformed with a 512-point DFT (own radix-2 FFT, f64), giving 257 bins × `1 + ⌊L / 353⌋` frames.

use serde::{Deserialize, Serialize};

use crate::error::{Result, Wav2ClipError};

/// FFT size (and window length) of the Wav2CLIP spectrogram.
pub const N_FFT: usize = 512;
/// Hop between spectrogram frames, in samples.
pub const HOP_LENGTH: usize = 353;
/// Number of one-sided frequency bins, `N_FFT / 2 + 1`.
pub const N_BINS: usize = N_FFT / 2 + 1;
/// Added to the power before the logarithm (as in the package).
pub const LOG_EPS: f64 = 1e-7;
/// Added to the standard deviation before dividing (as in the package).
pub const STD_EPS: f64 = 1e-9;

/// How the log-spectrogram is standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Normalisation {
    /// Mean and unbiased std over every value of every segment of the call, as the `wav2clip` package does on its
    /// batch tensor (frame embeddings then depend on the other frames of the call).
    #[default]
    Shared,
    /// Each segment standardised with its own mean and std (batch-independent).
    PerSegment,
}

/// The periodic Hann window of length `n` (`torch.hann_window(n)`, periodic=True).
pub fn periodic_hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect()
}

/// Number of spectrogram frames for `len` samples (`center=True`): `1 + ⌊len / 353⌋`.
pub fn num_frames(len: usize) -> usize {
    1 + len / HOP_LENGTH
}

/// In-place iterative radix-2 complex FFT of length `N_FFT` (f64).
struct Fft {
    cos: Vec<f64>,
    sin: Vec<f64>,
    rev: Vec<usize>,
}

impl Fft {
    fn new() -> Self {
        let n = N_FFT;
        let bits = n.trailing_zeros();
        let rev = (0..n)
            .map(|i| i.reverse_bits() >> (usize::BITS - bits))
            .collect();
        let cos = (0..n / 2)
            .map(|k| (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos())
            .collect();
        let sin = (0..n / 2)
            .map(|k| -(2.0 * std::f64::consts::PI * k as f64 / n as f64).sin())
            .collect();
        Self { cos, sin, rev }
    }

    fn run(&self, re: &mut [f64], im: &mut [f64]) {
        let n = re.len();
        for i in 0..n {
            let j = self.rev[i];
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let (wr, wi) = (self.cos[k * step], self.sin[k * step]);
                    let (a, b) = (start + k, start + k + len / 2);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

/// Power spectrogram of one signal: `[N_BINS, T]` row-major (bin-major), f64, with `T = 1 + ⌊L / 353⌋`.
///
/// Errors when the signal is too short for reflect padding (torch needs `L > 256`) or the window is not 512 long.
pub fn power_spectrogram(signal: &[f32], window: &[f32]) -> Result<(Vec<f64>, usize)> {
    let pad = N_FFT / 2;
    if window.len() != N_FFT {
        return Err(Wav2ClipError::InvalidArgument(format!(
            "spectrogram window has {} samples, expected {N_FFT}",
            window.len()
        )));
    }
    let len = signal.len();
    if len <= pad {
        return Err(Wav2ClipError::TooShort(format!(
            "{len} samples; the spectrogram's reflect padding needs more than {pad} (16 ms at 16 kHz)"
        )));
    }
    let reflect = |j: isize| -> f64 {
        let l = len as isize;
        let idx = if j < 0 {
            -j
        } else if j >= l {
            2 * (l - 1) - j
        } else {
            j
        };
        signal[idx as usize] as f64
    };
    let frames = num_frames(len);
    let fft = Fft::new();
    let mut out = vec![0.0f64; N_BINS * frames];
    let (mut re, mut im) = (vec![0.0f64; N_FFT], vec![0.0f64; N_FFT]);
    for t in 0..frames {
        let start = (t * HOP_LENGTH) as isize - pad as isize;
        for i in 0..N_FFT {
            re[i] = reflect(start + i as isize) * window[i] as f64;
            im[i] = 0.0;
        }
        fft.run(&mut re, &mut im);
        for k in 0..N_BINS {
            out[k * frames + t] = re[k] * re[k] + im[k] * im[k];
        }
    }
    Ok((out, frames))
}

/// Standardise `values` in place with their mean and unbiased std (`(x − mean) / (std + 1e-9)`).
///
/// A constant input (std exactly 0 in exact arithmetic, e.g. digital silence) becomes all zeros: the package's own
/// f32 arithmetic would divide rounding noise by 1e-9 there, which is not reproducible.
pub fn standardise(values: &mut [f64]) {
    let n = values.len();
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if n < 2 || min == max {
        values.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    let denom = var.sqrt() + STD_EPS;
    values.iter_mut().for_each(|v| *v = (*v - mean) / denom);
}

/// Standardised log-spectrograms of equally long segments, flattened `[N, 1, 257, T]` (f32), plus `T`.
///
/// This is the tensor the package feeds to `conv1`. `Shared` normalisation uses one mean/std over all segments.
/// The segments' spectrograms are computed in parallel on the current rayon pool; the values do not depend on the
/// number of threads (bitwise).
pub fn log_spectrogram_batch(
    segments: &[&[f32]],
    window: &[f32],
    normalisation: Normalisation,
) -> Result<(Vec<f32>, usize)> {
    use rayon::prelude::*;
    let Some(first) = segments.first() else {
        return Err(Wav2ClipError::InvalidArgument(
            "no audio segments given".into(),
        ));
    };
    if let Some(bad) = segments.iter().find(|s| s.len() != first.len()) {
        return Err(Wav2ClipError::InvalidArgument(format!(
            "segments of one batch must have equal lengths ({} vs {})",
            first.len(),
            bad.len()
        )));
    }
    // Per segment: power [257, T] (f64) → log → (per-segment standardisation).
    let specs: Vec<Result<(Vec<f64>, usize)>> = segments
        .par_iter()
        .with_max_len(1)
        .map(|seg| {
            let (mut spec, t) = power_spectrogram(seg, window)?;
            spec.iter_mut().for_each(|v| *v = (*v + LOG_EPS).ln());
            if normalisation == Normalisation::PerSegment {
                standardise(&mut spec);
            }
            Ok((spec, t))
        })
        .collect();
    let mut all = Vec::with_capacity(segments.len() * N_BINS * num_frames(first.len()));
    let mut frames = 0;
    for s in specs {
        let (spec, t) = s?;
        frames = t;
        all.extend_from_slice(&spec);
    }
    if normalisation == Normalisation::Shared {
        standardise(&mut all);
    }
    Ok((all.into_iter().map(|v| v as f32).collect(), frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_direct_dft() {
        let x: Vec<f64> = (0..N_FFT)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 50.0)
            .collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; N_FFT]);
        Fft::new().run(&mut re, &mut im);
        for k in [0usize, 1, 5, 100, 256, 300] {
            let (mut dr, mut di) = (0.0, 0.0);
            for (n, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * n) as f64 / N_FFT as f64;
                dr += v * a.cos();
                di += v * a.sin();
            }
            assert!(
                (dr - re[k]).abs() < 1e-9 && (di - im[k]).abs() < 1e-9,
                "bin {k}"
            );
        }
    }

    #[test]
    fn silence_standardises_to_zero() {
        let win = periodic_hann(N_FFT);
        let z = vec![0.0f32; 4000];
        let (spec, t) = log_spectrogram_batch(&[&z, &z], &win, Normalisation::Shared).unwrap();
        assert_eq!(t, 1 + 4000 / HOP_LENGTH);
        assert_eq!(spec.len(), 2 * N_BINS * t);
        assert!(spec.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn too_short_and_ragged_are_errors() {
        let win = periodic_hann(N_FFT);
        assert!(matches!(
            power_spectrogram(&[0.1; 256], &win),
            Err(Wav2ClipError::TooShort(_))
        ));
        let (a, b) = (vec![0.1f32; 1000], vec![0.1f32; 999]);
        assert!(log_spectrogram_batch(&[&a, &b], &win, Normalisation::Shared).is_err());
    }
}
