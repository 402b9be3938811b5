//! The AVX-512F micro-kernel: a 14 × 32 tile of C in 28 zmm accumulators. Each step of k loads two 16-float
//! vectors of the packed B panel and broadcasts the 14 values of the packed A sliver (folded into the FMAs as
//! `{1to16}` memory operands), i.e. 28 FMAs for 16 loads; the epilogue (bias, quick_gelu or ReLU, residual) runs on the
//! accumulators and column tails use masked loads and stores.

use std::arch::x86_64::*;

use super::{Micro, Tile, EXP_P, LN2_HI, LN2_LO, NR};

/// Rows of the AVX-512 register tile.
const MR: usize = 14;

/// The AVX-512 kernels (callers check that the CPU has AVX-512F).
pub(crate) const MICRO: Micro = Micro {
    mr: MR,
    tile: kernel,
    pack,
};

const _: () = assert!(
    NR == 32,
    "the AVX-512 kernel holds two 16-lane vectors per row"
);

/// Runs the AVX-512 kernel on one tile.
///
/// # Safety
/// The CPU must support AVX-512F, and the pointers of `t` must be valid as described on [`Tile`].
unsafe fn kernel(t: &Tile) {
    kernel_14x32(t)
}

/// Packs A like `super::pack_a` with `MR` = 14, transposing 14 × 16 blocks in registers.
///
/// # Safety
/// The CPU must support AVX-512F; `a` must be valid for reading the `mc × kc` block with row stride `lda`, and
/// `dst` must hold `ceil(mc / MR) · kc · MR` floats.
unsafe fn pack(a: *const f32, lda: usize, mc: usize, kc: usize, dst: &mut [f32]) {
    assert!(dst.len() >= mc.div_ceil(MR) * kc * MR);
    pack_14(a, lda, mc, kc, dst.as_mut_ptr())
}

#[target_feature(enable = "avx512f")]
unsafe fn pack_14(a: *const f32, lda: usize, mc: usize, kc: usize, dst: *mut f32) {
    const _: () = assert!(MR == 14, "the store mask below writes 14 lanes");
    for s in 0..mc.div_ceil(MR) {
        let rows = MR.min(mc - s * MR);
        let src = a.wrapping_add(s * MR * lda);
        let out = dst.add(s * kc * MR);
        let mut k0 = 0;
        while k0 < kc {
            let w = 16.min(kc - k0);
            let m = lanes(w);
            let mut r = [_mm512_setzero_ps(); 16];
            for (i, ri) in r.iter_mut().enumerate().take(rows) {
                *ri = _mm512_maskz_loadu_ps(m, src.wrapping_add(i * lda + k0));
            }
            let c = transpose16(r);
            for (j, cj) in c.iter().enumerate().take(w) {
                _mm512_mask_storeu_ps(out.add((k0 + j) * MR), 0x3FFF, *cj);
            }
            k0 += 16;
        }
    }
}

/// Transposes a 16 × 16 block held as 16 row vectors into 16 column vectors.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // Pairs of rows interleaved per 128-bit lane, then pairs of pairs (64-bit), then 128-bit lanes across
    // registers twice.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (t0, t1, t2, t3) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let pd = |x: __m512| _mm512_castps_pd(x);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t0), pd(t2)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t0), pd(t2)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t1), pd(t3)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t1), pd(t3)));
    }
    // u[4g + q] holds rows 4g..4g+4 of columns 4l + q in lane l.
    let mut v = [_mm512_setzero_ps(); 16];
    for h in 0..2 {
        for q in 0..4 {
            let (x, y) = (u[8 * h + q], u[8 * h + 4 + q]);
            v[8 * h + q] = _mm512_shuffle_f32x4::<0x88>(x, y);
            v[8 * h + 4 + q] = _mm512_shuffle_f32x4::<0xDD>(x, y);
        }
    }
    // v[8h + q] = columns q, 8 + q of rows 8h..8h+8; v[8h + 4 + q] = columns 4 + q, 12 + q.
    let mut c = [_mm512_setzero_ps(); 16];
    for q in 0..8 {
        c[q] = _mm512_shuffle_f32x4::<0x88>(v[q], v[8 + q]);
        c[8 + q] = _mm512_shuffle_f32x4::<0xDD>(v[q], v[8 + q]);
    }
    c
}

/// Lane mask of the first `n` (clamped to 0..=16) lanes.
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

macro_rules! tile_kernel {
    ($name:ident, $mr:expr, [$($i:literal)+]) => {
        #[target_feature(enable = "avx512f")]
        unsafe fn $name(t: &Tile) {
            let mut c0 = [_mm512_setzero_ps(); $mr];
            let mut c1 = [_mm512_setzero_ps(); $mr];
            let mut a = t.a;
            let mut b = t.b;
            macro_rules! step {
                () => {
                    let b0 = _mm512_load_ps(b);
                    let b1 = _mm512_load_ps(b.add(16));
                    $(
                        let ai = _mm512_set1_ps(*a.add($i));
                        c0[$i] = _mm512_fmadd_ps(ai, b0, c0[$i]);
                        c1[$i] = _mm512_fmadd_ps(ai, b1, c1[$i]);
                    )+
                    a = a.add($mr);
                    b = b.add(NR);
                };
            }
            // The tile of C (and of the residual) is read or written only after the loop over k: fetch it now.
            let res = match &t.epi {
                Some(e) => e.res,
                None => std::ptr::null(),
            };
            $(
                if $i < t.mr {
                    prefetch_row(t.c.wrapping_add($i * t.ldc));
                    if !res.is_null() {
                        prefetch_row(res.wrapping_add($i * t.epi.as_ref().map_or(0, |e| e.ldr)));
                    }
                }
            )+
            let mut pfa = t.pfa.cast::<i8>();
            for _ in 0..t.pfa_lines {
                _mm_prefetch::<_MM_HINT_T1>(pfa);
                pfa = pfa.wrapping_add(64);
            }
            // One prefetch (into L2) per step of k while there are lines left, then plain steps.
            let with_pf = t.pf_lines.min(t.kc);
            let mut pf = t.pf.cast::<i8>();
            for _ in 0..with_pf {
                _mm_prefetch::<_MM_HINT_T1>(pf);
                pf = pf.wrapping_add(64);
                step!();
            }
            for _ in with_pf..t.kc {
                step!();
            }
            for _ in with_pf..t.pf_lines {
                _mm_prefetch::<_MM_HINT_T1>(pf);
                pf = pf.wrapping_add(64);
            }
            let m0 = lanes(t.nr);
            let m1 = lanes(t.nr.saturating_sub(16));
            let (bias0, bias1) = match &t.epi {
                Some(e) if !e.bias.is_null() => {
                    (_mm512_maskz_loadu_ps(m0, e.bias), _mm512_maskz_loadu_ps(m1, e.bias.wrapping_add(16)))
                }
                _ => (_mm512_setzero_ps(), _mm512_setzero_ps()),
            };
            $(
                if $i < t.mr {
                    store_row(t, $i, c0[$i], c1[$i], m0, m1, bias0, bias1);
                }
            )+
        }
    };
}

tile_kernel!(kernel_14x32, 14, [0 1 2 3 4 5 6 7 8 9 10 11 12 13]);

/// Prefetches the lines of one 32-float row of a tile into L1.
#[target_feature(enable = "avx512f")]
#[inline]
fn prefetch_row(p: *const f32) {
    let p = p.cast::<i8>();
    _mm_prefetch::<_MM_HINT_T0>(p);
    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(4 * NR - 4));
}

/// Finishes row `i` of the tile: `+ C` when accumulating, the epilogue on the last block of K, masked store.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn store_row(
    t: &Tile,
    i: usize,
    mut x0: __m512,
    mut x1: __m512,
    m0: __mmask16,
    m1: __mmask16,
    bias0: __m512,
    bias1: __m512,
) {
    let c = t.c.wrapping_add(i * t.ldc);
    if t.load_c {
        x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, c));
        x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, c.wrapping_add(16)));
    }
    if let Some(e) = &t.epi {
        if !e.bias.is_null() {
            x0 = _mm512_add_ps(x0, bias0);
            x1 = _mm512_add_ps(x1, bias1);
        }
        if e.gelu {
            x0 = quick_gelu(x0);
            x1 = quick_gelu(x1);
        }
        if e.relu {
            x0 = _mm512_max_ps(x0, _mm512_setzero_ps());
            x1 = _mm512_max_ps(x1, _mm512_setzero_ps());
        }
        if !e.res.is_null() {
            let r = e.res.wrapping_add(i * e.ldr);
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, r));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, r.wrapping_add(16)));
        }
    }
    _mm512_mask_storeu_ps(c, m0, x0);
    _mm512_mask_storeu_ps(c.wrapping_add(16), m1, x1);
}

/// `x · sigmoid(1.702 x)`, lane-wise.
#[target_feature(enable = "avx512f")]
#[inline]
fn quick_gelu(x: __m512) -> __m512 {
    let e = exp(_mm512_mul_ps(x, _mm512_set1_ps(-1.702)));
    _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
}

/// `exp(x)` lane-wise, same range reduction and polynomial as `super::exp_approx`, with `scalef` for `2^n` (so it
/// saturates to 0 and +inf instead of clamping).
#[target_feature(enable = "avx512f")]
#[inline]
fn exp(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-104.0)),
        _mm512_set1_ps(89.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let y = _mm512_fmadd_ps(
        p,
        _mm512_mul_ps(r, r),
        _mm512_add_ps(r, _mm512_set1_ps(1.0)),
    );
    _mm512_scalef_ps(y, n)
}
