//! The portable micro-kernel: plain Rust over fixed-size arrays, written so the compiler vectorises it for whatever
//! SIMD the target has (SSE2 on baseline x86-64, NEON on aarch64). Separate multiply and add (no FMA contraction).

use super::{pack_a, quick_gelu, Micro, Tile, NR};

/// Rows of the portable register tile.
pub(crate) const MR: usize = 4;

/// The portable kernels.
pub(crate) const MICRO: Micro = Micro {
    mr: MR,
    tile: kernel,
    pack,
};

/// [`pack_a`] for `MR` rows.
///
/// # Safety
/// As [`pack_a`].
unsafe fn pack(a: *const f32, lda: usize, mc: usize, kc: usize, dst: &mut [f32]) {
    pack_a(a, lda, mc, kc, MR, dst)
}
/// Columns handled per pass over the sliver of A, so the accumulators (`MR × CH` floats) stay in SIMD registers
/// even with SSE2's sixteen 4-lane registers.
const CH: usize = 8;
const _: () = assert!(NR == 4 * CH, "`kernel` dispatches four column chunks");

/// `C[mr, nr] = epi(A·B [+ C])` for one tile; see [`Tile`].
///
/// # Safety
/// The pointers of `t` must be valid for the tile (`kc × MR` floats of A, `kc × NR` of B, `mr × nr` elements of C,
/// bias and residual with their strides).
unsafe fn kernel(t: &Tile) {
    let kc = t.kc;
    let a: &[f32] = if kc == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(t.a, kc * MR)
    };
    let b: &[f32] = if kc == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(t.b, kc * NR)
    };
    for chunk in 0..t.nr.div_ceil(CH) {
        let j0 = chunk * CH;
        let acc = match chunk {
            0 => product::<0>(a, b),
            1 => product::<CH>(a, b),
            2 => product::<{ 2 * CH }>(a, b),
            _ => product::<{ 3 * CH }>(a, b),
        };
        let cols = CH.min(t.nr - j0);
        for (i, row) in acc.iter().enumerate().take(t.mr) {
            let c = t.c.add(i * t.ldc + j0);
            for (j, &v) in row.iter().enumerate().take(cols) {
                let mut x = v;
                if t.load_c {
                    x += *c.add(j);
                }
                if let Some(e) = &t.epi {
                    if !e.bias.is_null() {
                        x += *e.bias.add(j0 + j);
                    }
                    if e.gelu {
                        x = quick_gelu(x);
                    }
                    if e.relu {
                        x = x.max(0.0);
                    }
                    if !e.res.is_null() {
                        x += *e.res.add(i * e.ldr + j0 + j);
                    }
                }
                *c.add(j) = x;
            }
        }
    }
}

/// `A_sliver · B_panel[:, J0..J0 + CH]` as `MR × CH` accumulators (kept in SIMD registers).
#[inline(always)]
fn product<const J0: usize>(a: &[f32], b: &[f32]) -> [[f32; CH]; MR] {
    let mut acc = [[0.0f32; CH]; MR];
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let ak: &[f32; MR] = ak.try_into().unwrap();
        let bk: &[f32; CH] = bk[J0..J0 + CH].try_into().unwrap();
        for (row, &ai) in acc.iter_mut().zip(ak) {
            for (c, &bj) in row.iter_mut().zip(bk) {
                *c += ai * bj;
            }
        }
    }
    acc
}
