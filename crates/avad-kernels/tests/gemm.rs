//! `avad_kernels::gemm` against a naive f64-accumulating reference: shapes around the tile and block sizes, K = 0,
//! strides, every epilogue, accumulation, both packings, both kernels, and thread-count independence.

use avad_kernels::{
    gemm, Epilogue, EpilogueActivation, GemmOptions, Kernel, KernelChoice, PackedB, Residual,
};

/// Deterministic pseudo-random floats in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Kernels to test on this machine.
fn kernels() -> Vec<KernelChoice> {
    let mut k = vec![KernelChoice::Portable];
    if Kernel::avx512_available() {
        k.push(KernelChoice::Avx512);
    } else {
        eprintln!("AVX-512F not available: only the portable kernel is tested");
    }
    k
}

/// One test problem with its operands in strided storage.
struct Case {
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
    ldc: usize,
    ldr: usize,
    a: Vec<f32>,
    b: Vec<f32>, // row-major [k, n]
    bias: Vec<f32>,
    res: Vec<f32>,
    c0: Vec<f32>,
}

const PAD: f32 = 777.0;

impl Case {
    fn new(m: usize, k: usize, n: usize, pad: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let (lda, ldc, ldr) = (k + pad, n + 2 * pad, n + 3 * pad);
        let mut a = rng.vec(m * lda);
        let mut c0 = rng.vec(m * ldc);
        let mut res = rng.vec(m * ldr);
        // Padding between rows: A's is never read, C's must never be written.
        for i in 0..m {
            a[i * lda + k..(i + 1) * lda].fill(f32::NAN);
            c0[i * ldc + n..(i + 1) * ldc].fill(PAD);
            res[i * ldr + n..(i + 1) * ldr].fill(f32::NAN);
        }
        Self {
            m,
            k,
            n,
            lda,
            ldc,
            ldr,
            a,
            b: rng.vec(k * n),
            bias: rng.vec(n),
            res,
            c0,
        }
    }

    fn epilogue(&self, bias: bool, act: EpilogueActivation, res: bool) -> Epilogue<'_> {
        Epilogue {
            bias: bias.then_some(&self.bias[..]),
            activation: act,
            residual: res.then_some(Residual {
                data: &self.res,
                ld: self.ldr,
            }),
        }
    }

    /// Reference C and the scale of each element's terms, in f64.
    fn reference(&self, epi: &Epilogue<'_>, accumulate: bool) -> (Vec<f64>, Vec<f64>) {
        let mut want = vec![0.0; self.m * self.n];
        let mut scale = vec![0.0; self.m * self.n];
        for i in 0..self.m {
            for j in 0..self.n {
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for p in 0..self.k {
                    let t = self.a[i * self.lda + p] as f64 * self.b[p * self.n + j] as f64;
                    s += t;
                    mag += t.abs();
                }
                if accumulate {
                    let c = self.c0[i * self.ldc + j] as f64;
                    s += c;
                    mag += c.abs();
                }
                if let Some(bias) = epi.bias {
                    s += bias[j] as f64;
                    mag += (bias[j] as f64).abs();
                }
                if epi.activation == EpilogueActivation::QuickGelu {
                    s /= 1.0 + (-1.702 * s).exp();
                }
                if epi.activation == EpilogueActivation::Relu {
                    s = s.max(0.0);
                }
                if let Some(r) = epi.residual {
                    let v = r.data[i * r.ld + j] as f64;
                    s += v;
                    mag += v.abs();
                }
                want[i * self.n + j] = s;
                scale[i * self.n + j] = mag + 1e-30;
            }
        }
        (want, scale)
    }

    fn run(&self, packed: &PackedB, epi: &Epilogue<'_>, opts: &GemmOptions) -> Vec<f32> {
        let mut c = self.c0.clone();
        if !opts.accumulate {
            // Without accumulation C is write-only: NaNs in it must not leak into the result.
            for i in 0..self.m {
                c[i * self.ldc..i * self.ldc + self.n].fill(f32::NAN);
            }
        }
        gemm(
            self.m, &self.a, self.lda, packed, &mut c, self.ldc, epi, opts,
        );
        c
    }

    /// Runs and checks against the reference with relative tolerance `tol` (relative to the sum of the magnitudes
    /// of each element's terms).
    fn check(
        &self,
        packed: &PackedB,
        epi: &Epilogue<'_>,
        opts: &GemmOptions,
        tol: f64,
    ) -> Vec<f32> {
        let c = self.run(packed, epi, opts);
        let (want, scale) = self.reference(epi, opts.accumulate);
        for i in 0..self.m {
            for j in 0..self.n {
                let got = c[i * self.ldc + j] as f64;
                let w = want[i * self.n + j];
                let err = (got - w).abs() / scale[i * self.n + j].max(1e-3);
                assert!(
                    err <= tol,
                    "m={} k={} n={} pad={} {:?} epi={:?} C[{i},{j}] = {got}, want {w} (rel err {err:e})",
                    self.m,
                    self.k,
                    self.n,
                    self.ldc - self.n,
                    opts,
                    epi.activation,
                );
            }
            for j in self.n..self.ldc {
                assert_eq!(
                    c[i * self.ldc + j],
                    PAD,
                    "padding of C row {i} column {j} was written"
                );
            }
        }
        c
    }
}

const TOL: f64 = 2e-6;

#[test]
fn shapes_around_tiles_and_blocks() {
    let mut count = 0;
    for kernel in kernels() {
        for &m in &[1usize, 2, 4, 5, 13, 14, 15, 28, 29, 100, 171] {
            for &n in &[1usize, 5, 16, 17, 31, 32, 33, 65, 100] {
                for &k in &[0usize, 1, 3, 17, 255, 256, 257, 600] {
                    let case = Case::new(m, k, n, 0, (m * 1000 + n * 10 + k) as u64);
                    let packed = PackedB::from_kn(&case.b, k, n);
                    let opts = GemmOptions {
                        kernel,
                        threads: 1,
                        ..Default::default()
                    };
                    case.check(&packed, &Epilogue::NONE, &opts, TOL);
                    count += 1;
                }
            }
        }
    }
    assert!(count > 700);
}

#[test]
fn strided_a_c_and_residual() {
    for kernel in kernels() {
        for &(m, k, n, pad) in &[
            (1, 1, 1, 1),
            (15, 33, 47, 3),
            (30, 300, 70, 16),
            (3, 5, 32, 1),
            (29, 64, 64, 64),
        ] {
            let case = Case::new(m, k, n, pad, 7 + m as u64);
            let packed = PackedB::from_kn(&case.b, k, n);
            for threads in [1, 2] {
                let opts = GemmOptions {
                    kernel,
                    threads,
                    ..Default::default()
                };
                case.check(&packed, &Epilogue::NONE, &opts, TOL);
                case.check(
                    &packed,
                    &case.epilogue(true, EpilogueActivation::None, true),
                    &opts,
                    TOL,
                );
            }
        }
    }
}

#[test]
fn every_epilogue_with_and_without_accumulation() {
    for kernel in kernels() {
        for &(m, k, n, pad) in &[
            (1, 7, 3, 0),
            (17, 129, 45, 2),
            (44, 300, 96, 5),
            (5, 0, 40, 1),
        ] {
            let case = Case::new(m, k, n, pad, 99 + k as u64);
            let packed = PackedB::from_kn(&case.b, k, n);
            for accumulate in [false, true] {
                for &(bias, act, res) in &[
                    (false, EpilogueActivation::None, false),
                    (true, EpilogueActivation::None, false),
                    (true, EpilogueActivation::QuickGelu, false),
                    (true, EpilogueActivation::None, true),
                    (false, EpilogueActivation::QuickGelu, true),
                    (true, EpilogueActivation::QuickGelu, true),
                    (true, EpilogueActivation::Relu, false),
                    (false, EpilogueActivation::Relu, false),
                    (true, EpilogueActivation::Relu, true),
                ] {
                    let opts = GemmOptions {
                        kernel,
                        accumulate,
                        threads: 0,
                    };
                    case.check(&packed, &case.epilogue(bias, act, res), &opts, TOL);
                }
            }
        }
    }
}

#[test]
fn quick_gelu_over_a_wide_range() {
    // Large |x| exercises the exponential's saturation (x·sigmoid(1.702x) → 0 or x).
    let (m, k, n) = (20, 4, 50);
    let mut case = Case::new(m, k, n, 0, 5);
    case.a
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x *= (i % 9) as f32 * 25.0);
    let packed = PackedB::from_kn(&case.b, k, n);
    for kernel in kernels() {
        let opts = GemmOptions {
            kernel,
            ..Default::default()
        };
        let c = case.check(&packed, &Epilogue::bias_quick_gelu(&case.bias), &opts, TOL);
        assert!(c.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn convenience_constructors() {
    let case = Case::new(9, 40, 33, 0, 3);
    let packed = PackedB::from_kn(&case.b, 40, 33);
    let opts = GemmOptions::default();
    case.check(&packed, &Epilogue::bias(&case.bias), &opts, TOL);
    case.check(&packed, &Epilogue::bias_quick_gelu(&case.bias), &opts, TOL);
    case.check(
        &packed,
        &Epilogue::bias_residual(&case.bias, &case.res, case.ldr),
        &opts,
        TOL,
    );
    assert_eq!(
        Epilogue::bias_quick_gelu(&case.bias).activation,
        EpilogueActivation::QuickGelu
    );
    let c = case.check(&packed, &Epilogue::bias_relu(&case.bias), &opts, TOL);
    assert_eq!(
        Epilogue::bias_relu(&case.bias).activation,
        EpilogueActivation::Relu
    );
    // Some outputs are clamped to exactly zero, the others are positive.
    let row = |i: usize| &c[i * case.ldc..i * case.ldc + case.n];
    let vals: Vec<f32> = (0..case.m).flat_map(|i| row(i).to_vec()).collect();
    assert!(vals.iter().all(|&v| v >= 0.0));
    assert!(vals.contains(&0.0) && vals.iter().any(|&v| v > 0.0));
}

#[test]
fn pytorch_layout_packs_the_transpose() {
    for &(k, n) in &[(1usize, 1usize), (7, 33), (300, 70), (768, 96)] {
        let case = Case::new(23, k, n, 2, (k + n) as u64);
        // W = Bᵀ, row-major [n, k], plus a strided copy.
        let mut w = vec![0.0f32; n * k];
        let ldw = k + 5;
        let mut w_strided = vec![f32::NAN; n * ldw];
        for p in 0..k {
            for j in 0..n {
                w[j * k + p] = case.b[p * n + j];
                w_strided[j * ldw + p] = case.b[p * n + j];
            }
        }
        let from_kn = PackedB::from_kn(&case.b, k, n);
        let from_nk = PackedB::from_nk(&w, n, k);
        let from_nk_strided = PackedB::from_nk_strided(&w_strided, n, k, ldw);
        assert_eq!((from_nk.k(), from_nk.n()), (k, n));
        for kernel in kernels() {
            let opts = GemmOptions {
                kernel,
                ..Default::default()
            };
            let epi = case.epilogue(true, EpilogueActivation::QuickGelu, false);
            let want = case.check(&from_kn, &epi, &opts, TOL);
            assert_eq!(case.run(&from_nk, &epi, &opts), want);
            assert_eq!(case.run(&from_nk_strided, &epi, &opts), want);
        }
        // Strided row-major B.
        let ldb = n + 9;
        let mut b_strided = vec![f32::NAN; k * ldb];
        for p in 0..k {
            b_strided[p * ldb..p * ldb + n].copy_from_slice(&case.b[p * n..(p + 1) * n]);
        }
        let opts = GemmOptions::default();
        assert_eq!(
            case.run(
                &PackedB::from_kn_strided(&b_strided, k, n, ldb),
                &Epilogue::NONE,
                &opts
            ),
            case.run(&from_kn, &Epilogue::NONE, &opts)
        );
    }
}

#[test]
fn thread_count_does_not_change_the_result() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for kernel in kernels() {
        for &(m, k, n) in &[
            (1usize, 64usize, 700usize),
            (13, 100, 64),
            (197, 520, 300),
            (400, 300, 130),
        ] {
            let case = Case::new(m, k, n, 1, 11);
            let packed = PackedB::from_kn(&case.b, k, n);
            let epi = case.epilogue(true, EpilogueActivation::QuickGelu, true);
            let one = case.check(
                &packed,
                &epi,
                &GemmOptions {
                    kernel,
                    threads: 1,
                    ..Default::default()
                },
                TOL,
            );
            for threads in [0, 2, 3, 4] {
                let got = pool.install(|| {
                    case.run(
                        &packed,
                        &epi,
                        &GemmOptions {
                            kernel,
                            threads,
                            ..Default::default()
                        },
                    )
                });
                assert!(
                    got.iter()
                        .zip(&one)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{kernel:?} m={m} k={k} n={n}: {threads} threads differ from 1"
                );
            }
        }
    }
}

#[test]
fn clip_sized_problem_and_kernels_agree() {
    // One image's tokens through an `fc1`-sized layer (K = 768, N = 3072) and an `fc2`-sized one (K = 3072).
    for &(m, k, n) in &[(197usize, 768usize, 3072usize), (50, 3072, 768)] {
        let case = Case::new(m, k, n, 0, 42);
        let mut w = vec![0.0f32; n * k];
        for p in 0..k {
            for j in 0..n {
                w[j * k + p] = case.b[p * n + j];
            }
        }
        let packed = PackedB::from_nk(&w, n, k);
        let epi = case.epilogue(true, EpilogueActivation::QuickGelu, false);
        let outs: Vec<Vec<f32>> = kernels()
            .into_iter()
            .map(|kernel| {
                case.check(
                    &packed,
                    &epi,
                    &GemmOptions {
                        kernel,
                        ..Default::default()
                    },
                    TOL,
                )
            })
            .collect();
        if let [p, v] = &outs[..] {
            let worst = p
                .iter()
                .zip(v)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "portable and AVX-512 differ by {worst}");
        }
    }
}

#[test]
fn auto_choice_resolves_to_an_available_kernel() {
    let k = KernelChoice::Auto.resolve();
    if std::env::var("AVAD_KERNELS").is_ok_and(|v| v == "portable") || !Kernel::avx512_available() {
        assert_eq!(k, Kernel::Portable);
    } else {
        assert_eq!(k, Kernel::Avx512);
    }
    assert_eq!(KernelChoice::Portable.resolve().name(), "portable");
}

#[test]
fn empty_dimensions_are_no_ops() {
    let packed = PackedB::from_kn(&[], 0, 0);
    let mut c = vec![1.0f32; 4];
    gemm(
        2,
        &[],
        0,
        &packed,
        &mut c,
        2,
        &Epilogue::NONE,
        &GemmOptions::default(),
    );
    assert_eq!(c, [1.0; 4]);
    let packed = PackedB::from_kn(&[1.0, 2.0], 1, 2);
    gemm(
        0,
        &[],
        1,
        &packed,
        &mut [],
        2,
        &Epilogue::NONE,
        &GemmOptions::default(),
    );
}

#[test]
#[should_panic(expected = "A has")]
fn short_a_panics() {
    let packed = PackedB::from_kn(&[1.0; 6], 2, 3);
    gemm(
        2,
        &[1.0; 3],
        2,
        &packed,
        &mut [0.0; 6],
        3,
        &Epilogue::NONE,
        &GemmOptions::default(),
    );
}

#[test]
#[should_panic(expected = "ldc")]
fn small_ldc_panics() {
    let packed = PackedB::from_kn(&[1.0; 6], 2, 3);
    gemm(
        2,
        &[1.0; 4],
        2,
        &packed,
        &mut [0.0; 6],
        2,
        &Epilogue::NONE,
        &GemmOptions::default(),
    );
}

#[test]
#[should_panic(expected = "bias")]
fn short_bias_panics() {
    let packed = PackedB::from_kn(&[1.0; 6], 2, 3);
    gemm(
        2,
        &[1.0; 4],
        2,
        &packed,
        &mut [0.0; 6],
        3,
        &Epilogue::bias(&[0.0; 2]),
        &GemmOptions::default(),
    );
}

#[test]
#[should_panic(expected = "residual")]
fn short_residual_panics() {
    let packed = PackedB::from_kn(&[1.0; 6], 2, 3);
    let epi = Epilogue::bias_residual(&[0.0; 3], &[0.0; 5], 3);
    gemm(
        2,
        &[1.0; 4],
        2,
        &packed,
        &mut [0.0; 6],
        3,
        &epi,
        &GemmOptions::default(),
    );
}

#[test]
fn concurrent_calls_from_many_threads() {
    // Calls from inside rayon workers (nested parallelism, per-thread packing buffers) give the sequential result.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let cases: Vec<Case> = (0..8)
        .map(|i| Case::new(50 + 13 * i, 300, 70 + 9 * i, 1, i as u64))
        .collect();
    let packed: Vec<PackedB> = cases
        .iter()
        .map(|c| PackedB::from_kn(&c.b, c.k, c.n))
        .collect();
    for kernel in kernels() {
        let sequential: Vec<Vec<f32>> = cases
            .iter()
            .zip(&packed)
            .map(|(c, p)| {
                c.check(
                    p,
                    &full_epilogue(c),
                    &GemmOptions {
                        kernel,
                        threads: 1,
                        ..Default::default()
                    },
                    TOL,
                )
            })
            .collect();
        let parallel: Vec<Vec<f32>> = pool.install(|| {
            use rayon::prelude::*;
            cases
                .par_iter()
                .zip(&packed)
                .map(|(c, p)| {
                    c.run(
                        p,
                        &full_epilogue(c),
                        &GemmOptions {
                            kernel,
                            threads: 2,
                            ..Default::default()
                        },
                    )
                })
                .collect()
        });
        assert!(
            sequential == parallel,
            "{kernel:?}: concurrent calls differ from sequential ones"
        );
    }
}

fn full_epilogue(c: &Case) -> Epilogue<'_> {
    c.epilogue(true, EpilogueActivation::QuickGelu, true)
}

/// A's rows may overlap (`lda < k`): a stride-1 convolution along time read straight from the time-major input
/// (row t = the window x[t..t + taps]) equals the same GEMM on an explicit im2col copy, bitwise, for both kernels.
#[test]
fn overlapping_rows_of_a_equal_an_im2col_copy() {
    let mut rng = Rng(7);
    for &(len, c, taps, n) in &[
        (40usize, 16usize, 5usize, 24usize),
        (300, 33, 3, 70),
        (9, 8, 2, 5),
    ] {
        let rows = len - taps + 1;
        let x = rng.vec(len * c);
        let w = rng.vec(taps * c * n);
        let b = PackedB::from_kn(&w, taps * c, n);
        let col: Vec<f32> = (0..rows)
            .flat_map(|t| x[t * c..(t + taps) * c].iter().copied())
            .collect();
        for kernel in kernels() {
            let opts = GemmOptions {
                kernel,
                ..Default::default()
            };
            let mut direct = vec![0.0f32; rows * n];
            gemm(rows, &x, c, &b, &mut direct, n, &Epilogue::NONE, &opts);
            let mut copied = vec![0.0f32; rows * n];
            gemm(
                rows,
                &col,
                taps * c,
                &b,
                &mut copied,
                n,
                &Epilogue::NONE,
                &opts,
            );
            assert_eq!(direct, copied, "len {len} c {c} taps {taps} {kernel:?}");
        }
    }
}
