//! What the fast CPU inference paths built on [`gemm`](crate::gemm()) share: their options (threads of the rayon
//! pool, micro-kernels) and the small row-wise kernels around the GEMMs (LayerNorm, softmax, sigmoid, exact GELU,
//! parallel loops over whole items).
//!
//! Used by avad-clip's `FastVisionEncoder`, avad-wav2clip's `FastWav2Clip` and avad-model's `FastModel`.

use rayon::prelude::*;

use crate::gemm::{exp_approx, GemmOptions, KernelChoice};

/// Threads and GEMM micro-kernels of a fast CPU path (`FastVisionOptions`, `FastWav2ClipOptions` and
/// `FastModelOptions` are this type).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuOptions {
    /// Threads of the current rayon pool to use; 0 means all of them. The output does not depend on it (bitwise).
    pub threads: usize,
    /// GEMM micro-kernels ([`KernelChoice::Portable`] forces the plain-Rust ones, like `AVAD_KERNELS=portable`).
    pub kernel: KernelChoice,
}

impl CpuOptions {
    /// The number of threads a call uses: [`CpuOptions::threads`], at most (and 0 meaning) all threads of the current
    /// rayon pool.
    pub fn resolved_threads(&self) -> usize {
        let all = rayon::current_num_threads().max(1);
        match self.threads {
            0 => all,
            t => t.min(all),
        }
    }

    /// [`GemmOptions`] with these kernels on `threads` threads (not accumulating).
    pub fn gemm_options(&self, threads: usize) -> GemmOptions {
        GemmOptions {
            accumulate: false,
            threads,
            kernel: self.kernel,
        }
    }
}

/// Splits `data` (`items` items of `item_len` floats) into at most `nt` contiguous chunks of whole items and runs
/// `f(first_item, chunk)` on each in parallel.
pub fn for_chunks(
    data: &mut [f32],
    item_len: usize,
    items: usize,
    nt: usize,
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    debug_assert_eq!(data.len(), item_len * items);
    if items == 0 || item_len == 0 {
        return;
    }
    let per = items.div_ceil(nt.max(1));
    if per >= items {
        f(0, data);
        return;
    }
    data.par_chunks_mut(per * item_len)
        .enumerate()
        .for_each(|(i, chunk)| f(i * per, chunk));
}

/// LayerNorm parameters: per-feature scale `w` and shift `b` (`[D]` each) and the epsilon added to the variance.
#[derive(Clone, Debug)]
pub struct LayerNormParams {
    /// Scale `[D]`.
    pub w: Vec<f32>,
    /// Shift `[D]`.
    pub b: Vec<f32>,
    /// Added to the (biased) variance.
    pub eps: f64,
}

/// LayerNorm of `rows` rows of `src` (row stride `ld_src`) into the contiguous `dst [rows, D]`: mean and (biased)
/// variance from one pass over each row (f64 sums), then one pass to normalise, scale and shift. Rows are split over
/// `nt` threads.
pub fn layer_norm(
    src: &[f32],
    ld_src: usize,
    rows: usize,
    dst: &mut [f32],
    n: &LayerNormParams,
    nt: usize,
) {
    let d = n.w.len();
    for_chunks(dst, d, rows, nt, |r0, chunk| {
        for (ri, out) in chunk.chunks_mut(d).enumerate() {
            let row = &src[(r0 + ri) * ld_src..(r0 + ri) * ld_src + d];
            let (mut s, mut s2) = (0.0f64, 0.0f64);
            for &v in row {
                let v = v as f64;
                s += v;
                s2 += v * v;
            }
            let mean = s / d as f64;
            let var = (s2 / d as f64 - mean * mean).max(0.0);
            let inv = (1.0 / (var + n.eps).sqrt()) as f32;
            let mean = mean as f32;
            for (((o, &v), &w), &b) in out.iter_mut().zip(row).zip(&n.w).zip(&n.b) {
                *o = (v - mean) * inv * w + b;
            }
        }
    });
}

/// `row = softmax(scale · row)`, with the row maximum subtracted before the exponential. Separate passes for the
/// maximum, the exponentials and the sum (the reductions over 16 lanes) so that each one vectorises.
pub fn softmax_scaled(row: &mut [f32], scale: f32) {
    const L: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for v in row.iter_mut() {
        *v = exp_approx((*v - max) * scale);
    }
    let mut sums = [0.0f32; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for (s, &v) in sums.iter_mut().zip(c) {
            *s += v;
        }
    }
    let sum: f32 = chunks.remainder().iter().sum::<f32>() + sums.iter().sum::<f32>();
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `1 / (1 + exp(−x))` with [`exp_approx`] (relative error about 3e-7).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// `erf(x)` to about 2e-7 absolute error (Abramowitz & Stegun 7.1.26 with [`exp_approx`]); branch-free apart from
/// the sign, so loops over it vectorise.
#[inline]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let y = 1.0 - poly * exp_approx(-ax * ax);
    y.copysign(x)
}

/// Exact (erf) GELU `x · (1 + erf(x / √2)) / 2`, PyTorch's `nn.GELU()` default.
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_gelu_and_sigmoid_are_accurate() {
        let mut worst_erf = 0.0f64;
        let mut worst_gelu = 0.0f64;
        let mut worst_sig = 0.0f64;
        for i in -12_000..12_000 {
            let x = i as f32 * 0.001;
            let xd = x as f64;
            // erf via its series-free complement is not in std; compare against a high-order reference.
            let e = erf_ref(xd);
            worst_erf = worst_erf.max((erf(x) as f64 - e).abs());
            let g = 0.5 * xd * (1.0 + erf_ref(xd / std::f64::consts::SQRT_2));
            worst_gelu = worst_gelu.max((gelu(x) as f64 - g).abs() / (1.0 + g.abs()));
            let s = 1.0 / (1.0 + (-xd).exp());
            worst_sig = worst_sig.max((sigmoid(x) as f64 - s).abs());
        }
        assert!(worst_erf < 5e-7, "erf {worst_erf}");
        assert!(worst_gelu < 1e-6, "gelu {worst_gelu}");
        assert!(worst_sig < 1e-6, "sigmoid {worst_sig}");
        assert!(erf(0.0).abs() < 1e-7);
        assert_eq!(erf(100.0), 1.0);
        assert_eq!(erf(-100.0), -1.0);
        assert_eq!(gelu(-100.0), 0.0);
    }

    /// erf by its Taylor series (|x| < 3) or continued fraction of erfc (|x| ≥ 3), in f64.
    fn erf_ref(x: f64) -> f64 {
        let ax = x.abs();
        let r = if ax < 3.0 {
            let mut term = ax;
            let mut sum = ax;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -ax * ax / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …))))
            let mut f = ax;
            for k in (1..60).rev() {
                f = ax + (k as f64 / 2.0) / f;
            }
            1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / f
        };
        r.copysign(x)
    }

    #[test]
    fn options_resolve_threads() {
        let all = rayon::current_num_threads().max(1);
        assert_eq!(CpuOptions::default().resolved_threads(), all);
        let one = CpuOptions {
            threads: 1,
            kernel: KernelChoice::Portable,
        };
        assert_eq!(one.resolved_threads(), 1);
        let g = one.gemm_options(3);
        assert_eq!(
            (g.threads, g.kernel, g.accumulate),
            (3, KernelChoice::Portable, false)
        );
        let many = CpuOptions {
            threads: all + 5,
            ..Default::default()
        };
        assert_eq!(many.resolved_threads(), all);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_the_definition() {
        let mut row = vec![3.0f32, -1.0, 100.0, 99.5, 0.0];
        let want: Vec<f64> = {
            let e: Vec<f64> = row
                .iter()
                .map(|&v| ((v as f64 - 100.0) * 0.5).exp())
                .collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        softmax_scaled(&mut row, 0.5);
        for (g, w) in row.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-6);
        }
    }
}
