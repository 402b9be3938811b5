//! Comparisons the test suites of every crate share.

/// Largest absolute elementwise difference of two equally long slices; `f32::INFINITY` when the lengths differ or
/// a value is NaN, so that a tolerance check fails.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() {
            f32::INFINITY
        } else {
            m.max(d)
        }
    })
}

/// `n` deterministic pseudo-random numbers, uniform in `[lo, hi)` (xorshift64 seeded by `seed`): test inputs that
/// are the same on every machine.
pub fn uniform(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (s >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_seeded_and_in_range() {
        let a = uniform(1000, 7, -2.0, 2.0);
        assert_eq!(a, uniform(1000, 7, -2.0, 2.0));
        assert_ne!(a, uniform(1000, 8, -2.0, 2.0));
        assert!(a.iter().all(|x| (-2.0..2.0).contains(x)));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.2, "{mean}");
    }

    #[test]
    fn differences_lengths_and_nans() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 1.0]), 1.0);
        assert_eq!(max_abs_diff(&[], &[]), 0.0);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f32::INFINITY);
        assert_eq!(max_abs_diff(&[f32::NAN], &[1.0]), f32::INFINITY);
    }
}
