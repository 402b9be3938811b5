//! fp32 GEMM with a prepacked right-hand side and a fused epilogue: `C[M,N] (+)= A[M,K] · B[K,N]`, then
//! optionally `+ bias`, `quick_gelu` or ReLU, `+ R`.
//!
//! Layout: A and C (and the residual R) are row-major with arbitrary row strides (`lda`, `ldc`, `ld` ≥ the number of
//! columns); B is packed once into a [`PackedB`] (from a row-major `[K, N]` matrix or from a PyTorch `nn.Linear`
//! weight `[N, K]`), as linear-layer weights are reused for every call.
//!
//! Algorithm (the Goto/BLIS scheme): the rows of A are cut into blocks of at most `MC` = 168 rows and K into
//! blocks of `KC` = 256; each `MC × KC` block of A is packed into slivers of `MR` rows (it stays in L2), and a
//! register-tile micro-kernel multiplies one `MR × KC` sliver of A by one `KC × NR` panel block of B (`NR` = 32
//! columns, 32 KB, kept in L1 while the slivers of the block go past). The AVX-512 micro-kernel holds a 14 × 32 tile
//! of C in 28 zmm registers (one broadcast of A and two 16-lane loads of B feed 28 FMAs per step of k); while it
//! runs it prefetches its C tile, its share of the next panel block of B and a row of the next block of A, so the
//! FMAs rarely wait for memory; the AVX-512 packing of A transposes 14 × 16 blocks in registers. After the last
//! block of K the bias, quick_gelu and residual add are applied to the tile in registers before it is stored.
//! Blocks of rows (and, when there are few rows, of columns) are handed to rayon workers one at a time, so two
//! threads share the work however busy each core is.
//!
//! Every output tile is computed by exactly one task with the same arithmetic whatever the number of threads, so
//! the result does not depend on `threads` (bitwise).

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::aligned::AlignedBuf;

/// Columns of one packed panel of B, and of the micro-kernels' register tiles.
pub(crate) const NR: usize = 32;
/// Depth of one block of K (one packed sliver of A is `MR × KC`, one panel block of B is `KC × NR`).
const KC: usize = 256;
/// Most rows of A in one block (one task), before rounding to a multiple of the kernel's `MR`.
const MC: usize = 168;

/// The right-hand side B `[K, N]` of [`gemm`], packed once into column panels of 32 (the last one zero-padded),
/// each panel stored k-major so a micro-kernel reads it contiguously; 64-byte aligned.
#[derive(Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: AlignedBuf,
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedB")
            .field("k", &self.k)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl PackedB {
    /// Packs a row-major `[K, N]` matrix (`b.len() == k * n`).
    pub fn from_kn(b: &[f32], k: usize, n: usize) -> Self {
        Self::from_kn_strided(b, k, n, n)
    }

    /// Packs a row-major `[K, N]` matrix whose rows are `ldb ≥ n` floats apart.
    pub fn from_kn_strided(b: &[f32], k: usize, n: usize, ldb: usize) -> Self {
        assert!(ldb >= n, "PackedB::from_kn_strided: ldb ({ldb}) < n ({n})");
        check_len("B", b.len(), k, n, ldb);
        Self::pack(k, n, |kk, j| b[kk * ldb + j])
    }

    /// Packs the transpose of a row-major `[N, K]` matrix, i.e. a PyTorch `nn.Linear` weight `[out, in]`, so that
    /// `gemm` computes `x · Wᵀ` (`w.len() == n * k`).
    pub fn from_nk(w: &[f32], n: usize, k: usize) -> Self {
        Self::from_nk_strided(w, n, k, k)
    }

    /// Like [`PackedB::from_nk`] for a `[N, K]` matrix whose rows are `ldw ≥ k` floats apart.
    pub fn from_nk_strided(w: &[f32], n: usize, k: usize, ldw: usize) -> Self {
        assert!(ldw >= k, "PackedB::from_nk_strided: ldw ({ldw}) < k ({k})");
        check_len("W", w.len(), n, k, ldw);
        Self::pack(k, n, |kk, j| w[j * ldw + kk])
    }

    fn pack(k: usize, n: usize, at: impl Fn(usize, usize) -> f32) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = AlignedBuf::zeros(panels * k * NR);
        let d = data.as_mut_slice();
        for p in 0..panels {
            let j0 = p * NR;
            let nr = NR.min(n - j0);
            let panel = &mut d[p * k * NR..(p + 1) * k * NR];
            // Column-outer order reads a `[N, K]` weight row by row; row-major `[K, N]` input is small enough
            // (and packed once) for the strided read not to matter.
            for j in 0..nr {
                for kk in 0..k {
                    panel[kk * NR + j] = at(kk, j0 + j);
                }
            }
        }
        Self { k, n, data }
    }

    /// K, the inner dimension (rows of B).
    pub fn k(&self) -> usize {
        self.k
    }

    /// N, the number of output columns (columns of B).
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Element-wise function applied after the bias in an [`Epilogue`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EpilogueActivation {
    /// Identity.
    #[default]
    None,
    /// CLIP's `quick_gelu(x) = x · sigmoid(1.702 x)` (the exponential is a degree-6 polynomial approximation,
    /// relative error below 5e-7).
    QuickGelu,
    /// `max(x, 0)` (a ResNet's ReLU; with [`GemmOptions::accumulate`] the old C, e.g. a shortcut, is inside it).
    Relu,
}

/// A residual matrix R `[M, N]` (row-major, rows `ld ≥ N` floats apart) added at the end of an [`Epilogue`].
#[derive(Clone, Copy, Debug)]
pub struct Residual<'a> {
    /// The elements; `R[i, j]` is `data[i * ld + j]`.
    pub data: &'a [f32],
    /// Row stride of `data`.
    pub ld: usize,
}

/// What [`gemm`] does to each output element `acc` (= `A·B`, plus the old C when accumulating) before storing it:
/// `C = activation(acc + bias) + residual`, all fused into the micro-kernel's store.
///
/// An in-place residual (`x = x + y·W + b`) is [`GemmOptions::accumulate`] with [`Epilogue::bias`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// Per-column bias `[N]`, added first.
    pub bias: Option<&'a [f32]>,
    /// Applied after the bias.
    pub activation: EpilogueActivation,
    /// Added last.
    pub residual: Option<Residual<'a>>,
}

impl<'a> Epilogue<'a> {
    /// No epilogue: `C = A·B`.
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: None,
        activation: EpilogueActivation::None,
        residual: None,
    };

    /// `C = A·B + bias`.
    pub fn bias(bias: &'a [f32]) -> Self {
        Self {
            bias: Some(bias),
            ..Default::default()
        }
    }

    /// `C = quick_gelu(A·B + bias)` (CLIP's MLP `fc1`).
    pub fn bias_quick_gelu(bias: &'a [f32]) -> Self {
        Self {
            bias: Some(bias),
            activation: EpilogueActivation::QuickGelu,
            residual: None,
        }
    }

    /// `C = max(A·B + bias, 0)` (a convolution with folded batch norm and ReLU; with [`GemmOptions::accumulate`],
    /// `C = max(A·B + C + bias, 0)`: a ResNet block's second convolution on top of its shortcut).
    pub fn bias_relu(bias: &'a [f32]) -> Self {
        Self {
            bias: Some(bias),
            activation: EpilogueActivation::Relu,
            residual: None,
        }
    }

    /// `C = A·B + bias + R` (an attention out-projection or MLP `fc2` followed by the residual connection).
    pub fn bias_residual(bias: &'a [f32], residual: &'a [f32], ld: usize) -> Self {
        Self {
            bias: Some(bias),
            activation: EpilogueActivation::None,
            residual: Some(Residual { data: residual, ld }),
        }
    }
}

/// Which micro-kernels a call may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelChoice {
    /// AVX-512 where the CPU has it, else portable; the environment variable `AVAD_KERNELS=portable` (read once)
    /// forces the portable kernels.
    #[default]
    Auto,
    /// The plain-Rust kernels (any CPU).
    Portable,
    /// The AVX-512 kernels; a call panics when the CPU lacks AVX-512F (see [`Kernel::avx512_available`]).
    Avx512,
}

/// A resolved set of micro-kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, auto-vectorisable: 4 × 32 tiles.
    Portable,
    /// `std::arch` AVX-512F intrinsics: 14 × 32 register tiles.
    Avx512,
}

impl Kernel {
    /// Whether this CPU (x86-64 only) has AVX-512F, detected at run time.
    pub fn avx512_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Short name, e.g. for benchmark output: `"avx512"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx512 => "avx512",
        }
    }
}

impl KernelChoice {
    /// The kernels a call with this choice uses on this machine (reads `AVAD_KERNELS` once, for `Auto`).
    pub fn resolve(self) -> Kernel {
        match self {
            KernelChoice::Portable => Kernel::Portable,
            KernelChoice::Avx512 => {
                assert!(
                    Kernel::avx512_available(),
                    "avad-kernels: AVX-512 kernels requested but the CPU lacks AVX-512F"
                );
                Kernel::Avx512
            }
            KernelChoice::Auto => {
                static AUTO: OnceLock<Kernel> = OnceLock::new();
                *AUTO.get_or_init(|| {
                    let forced_portable = std::env::var("AVAD_KERNELS")
                        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("portable"));
                    if !forced_portable && Kernel::avx512_available() {
                        Kernel::Avx512
                    } else {
                        Kernel::Portable
                    }
                })
            }
        }
    }
}

/// Options of [`gemm`] other than the operands.
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmOptions {
    /// `C += A·B` (then the epilogue) instead of `C = A·B`; without it C is only written.
    pub accumulate: bool,
    /// Worker threads of the current rayon pool to use; 0 means all of them. The result is the same (bitwise) for
    /// any value.
    pub threads: usize,
    /// Micro-kernel selection.
    pub kernel: KernelChoice,
}

/// `C = epilogue(A·B [+ C])` for A `[m, b.k()]` (rows `lda` floats apart), the packed B `[b.k(), b.n()]` and C
/// `[m, b.n()]` (rows `ldc` floats apart); see [`Epilogue`] and [`GemmOptions`].
///
/// A's rows may overlap (`lda < b.k()`, A is only read): row `t` of a time-major sequence `x [L, c]` read with
/// `lda = c` and `k = taps · c` is the window `x[t..t + taps]`, so a stride-1 convolution along time is one GEMM on
/// `x` itself, without an im2col copy.
///
/// With `b.k() == 0` the product is zero (C becomes `epilogue(0)`, or `epilogue(C)` when accumulating).
///
/// # Panics
/// When `ldc` (or a residual's stride) is smaller than its row length, a slice is too short for its shape, or
/// AVX-512 is forced on a CPU without it.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    epilogue: &Epilogue<'_>,
    opts: &GemmOptions,
) {
    let (k, n) = (b.k, b.n);
    assert!(ldc >= n, "gemm: ldc ({ldc}) < n ({n})");
    check_len("A", a.len(), m, k, lda);
    check_len("C", c.len(), m, n, ldc);
    if let Some(bias) = epilogue.bias {
        assert!(
            bias.len() >= n,
            "gemm: bias has {} elements, n = {n}",
            bias.len()
        );
    }
    if let Some(r) = epilogue.residual {
        assert!(r.ld >= n, "gemm: residual ld ({}) < n ({n})", r.ld);
        check_len("residual", r.data.len(), m, n, r.ld);
    }
    if m == 0 || n == 0 {
        return;
    }
    let kernel = opts.kernel.resolve();
    let epi = TileEpi {
        bias: epilogue.bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
        gelu: epilogue.activation == EpilogueActivation::QuickGelu,
        relu: epilogue.activation == EpilogueActivation::Relu,
        res: epilogue
            .residual
            .map_or(std::ptr::null(), |r| r.data.as_ptr()),
        ldr: epilogue.residual.map_or(0, |r| r.ld),
    };
    let micro = match kernel {
        Kernel::Portable => portable::MICRO,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => avx512::MICRO,
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx512 => unreachable!("AVX-512 is only detected on x86-64"),
    };
    Problem::new(
        m,
        k,
        n,
        a.as_ptr(),
        lda,
        b,
        c.as_mut_ptr(),
        ldc,
        opts.accumulate,
        epi,
        micro,
        opts.threads,
    )
    .run();
}

/// Panics unless a `[rows, cols]` matrix with row stride `ld` fits in `len` elements.
fn check_len(what: &str, len: usize, rows: usize, cols: usize, ld: usize) {
    if rows > 0 && cols > 0 {
        let need = (rows - 1) * ld + cols;
        assert!(len >= need, "avad-kernels: {what} has {len} elements, a [{rows}, {cols}] matrix with row stride {ld} needs {need}");
    }
}

/// The epilogue of one tile (pointers already offset to the tile; null when absent).
#[derive(Clone, Copy)]
pub(crate) struct TileEpi {
    /// Bias at the tile's first column, or null.
    pub bias: *const f32,
    /// Apply quick_gelu after the bias.
    pub gelu: bool,
    /// Apply ReLU after the bias.
    pub relu: bool,
    /// Residual at the tile's first element, or null.
    pub res: *const f32,
    /// Residual row stride.
    pub ldr: usize,
}

/// One call of a micro-kernel: `C[mr, nr] = epi(A_sliver · B_panel [+ C])`.
pub(crate) struct Tile {
    /// Depth (may be 0).
    pub kc: usize,
    /// Packed A sliver, `kc × MR` (k-major, MR rows interleaved, rows ≥ `mr` zero).
    pub a: *const f32,
    /// Packed B panel block, `kc × NR`, 64-byte aligned (columns ≥ `nr` zero).
    pub b: *const f32,
    /// C at the tile's first element.
    pub c: *mut f32,
    /// C row stride.
    pub ldc: usize,
    /// Valid rows, 1..=MR.
    pub mr: usize,
    /// Valid columns, 1..=NR.
    pub nr: usize,
    /// Add the old C to the product.
    pub load_c: bool,
    /// Epilogue, only on the last block of K.
    pub epi: Option<TileEpi>,
    /// Start of B data the next tiles will need (64-byte aligned), to prefetch into L2 while computing this one.
    pub pf: *const f32,
    /// Number of 64-byte lines to prefetch from `pf` (0: none).
    pub pf_lines: usize,
    /// Start of a row of the next block of A this task packs, to prefetch into L2 (`pfa_lines` lines).
    pub pfa: *const f32,
    /// Number of 64-byte lines to prefetch from `pfa` (0: none).
    pub pfa_lines: usize,
}

/// One set of micro-kernels.
#[derive(Clone, Copy)]
pub(crate) struct Micro {
    /// Rows of the register tile.
    pub mr: usize,
    /// Computes one tile.
    pub tile: unsafe fn(&Tile),
    /// Packs A as [`pack_a`] does for this `mr`: `(a, lda, mc, kc, dst)`.
    pub pack: unsafe fn(*const f32, usize, usize, usize, &mut [f32]),
}

/// One call's operands as raw pointers plus its blocking; shared read-only by the workers.
struct Problem<'b> {
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: &'b PackedB,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    epi: TileEpi,
    /// Micro-kernels (`micro.mr` rows per tile).
    micro: Micro,
    /// Depth of a block of K (the last one may be shorter).
    kcb: usize,
    /// Most rows of a row block (a multiple of `mr`).
    mc: usize,
    /// Every row block has `spb` or `spb + 1` slivers of `mr` rows ...
    spb: usize,
    /// ... the first `spb_rem` of them `spb + 1`.
    spb_rem: usize,
    /// Panels of B per column block.
    ppb: usize,
    /// Column blocks.
    nb: usize,
    /// Tasks (row blocks × column blocks).
    tasks: usize,
    /// Workers to use.
    workers: usize,
}

// SAFETY: workers only read A, B, the bias and the residual, and write disjoint tiles of C (each task owns a
// distinct block of rows × columns); the `&mut` borrow of C in `gemm` outlives the parallel section.
unsafe impl Sync for Problem<'_> {}

impl<'b> Problem<'b> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        lda: usize,
        b: &'b PackedB,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
        epi: TileEpi,
        micro: Micro,
        threads: usize,
    ) -> Self {
        let mr = micro.mr;
        let want = match threads {
            1 => 1,
            0 => rayon::current_num_threads().max(1),
            t => t.min(rayon::current_num_threads().max(1)),
        };
        // Blocks of K of at most KC, of equal depth rounded up to 16 (the last one takes the rest).
        let kcb = k.div_ceil(k.div_ceil(KC).max(1)).next_multiple_of(16);
        // Row blocks of whole slivers, at most MC rows, as even as possible (sizes differ by at most one sliver),
        // and as many as a multiple of the workers, so the workers finish together.
        let slivers = m.div_ceil(mr);
        let mut mb = slivers.div_ceil((MC / mr).max(1));
        if mb > 1 {
            mb = mb.next_multiple_of(want).min(slivers);
        }
        let (spb, spb_rem) = (slivers / mb, slivers % mb);
        let mc = (spb + usize::from(spb_rem > 0)) * mr;
        // With few row blocks, also cut the columns so every worker gets about two tasks.
        let panels = n.div_ceil(NR);
        let mut nb = 1;
        if want > 1 && mb < 2 * want {
            nb = (2 * want).div_ceil(mb).min(panels);
        }
        let ppb = panels.div_ceil(nb);
        let nb = panels.div_ceil(ppb);
        let tasks = mb * nb;
        Self {
            m,
            k,
            n,
            a,
            lda,
            b,
            c,
            ldc,
            accumulate,
            epi,
            micro,
            kcb,
            mc,
            spb,
            spb_rem,
            ppb,
            nb,
            tasks,
            workers: want.min(tasks),
        }
    }

    fn run(&self) {
        let buf_len = self.mc * self.k.min(self.kcb);
        if self.workers <= 1 {
            with_pack_buffer(buf_len, |buf| {
                for t in 0..self.tasks {
                    self.task(t, buf);
                }
            });
            return;
        }
        let next = AtomicUsize::new(0);
        let work = || {
            with_pack_buffer(buf_len, |buf| loop {
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= self.tasks {
                    break;
                }
                self.task(t, buf);
            })
        };
        rayon::scope(|s| {
            for _ in 1..self.workers {
                s.spawn(|_| work());
            }
            work();
        });
    }

    /// First row and number of rows of row block `ib`.
    fn rows(&self, ib: usize) -> (usize, usize) {
        let first = ib * self.spb + ib.min(self.spb_rem);
        let count = self.spb + usize::from(ib < self.spb_rem);
        let mr = self.micro.mr;
        let i0 = first * mr;
        (i0, (count * mr).min(self.m - i0))
    }

    /// Computes one block of rows × columns of C over all of K.
    fn task(&self, t: usize, buf: &mut AlignedBuf) {
        let (ib, jb) = (t / self.nb, t % self.nb);
        let (i0, mcur) = self.rows(ib);
        let panels = self.n.div_ceil(NR);
        let (p_lo, p_hi) = (jb * self.ppb, ((jb + 1) * self.ppb).min(panels));
        let mr = self.micro.mr;
        let mut pc = 0;
        loop {
            let kc = self.kcb.min(self.k - pc);
            let last = pc + kc >= self.k;
            // SAFETY: rows i0..i0+mcur and columns pc..pc+kc lie inside A (checked in `gemm`).
            unsafe {
                (self.micro.pack)(
                    self.a.wrapping_add(i0 * self.lda + pc),
                    self.lda,
                    mcur,
                    kc,
                    buf.as_mut_slice(),
                )
            };
            let abuf = buf.as_slice().as_ptr();
            let slivers = mcur.div_ceil(mr);
            let bdata = self.b.data.as_slice().as_ptr();
            // Tile calls of this block of K prefetch the rows of the next one of A (one row each), so packing it
            // does not wait for memory.
            let next_a_kc = if last {
                0
            } else {
                self.kcb.min(self.k - pc - kc)
            };
            let next_a = self.a.wrapping_add(i0 * self.lda + pc + kc);
            let mut call = 0usize;
            for p in p_lo..p_hi {
                let j0 = p * NR;
                let nr = NR.min(self.n - j0);
                // SAFETY: panel p has k × NR floats; pc + kc ≤ k.
                let bptr = unsafe { bdata.add((p * self.k + pc) * NR) };
                // The slivers of this panel share out the prefetch of the next panel block this task reads
                // (the next panel, or the first one of the next block of K), so it is in L2 when its turn comes.
                let (next, next_kc) = if p + 1 < p_hi {
                    (bdata.wrapping_add(((p + 1) * self.k + pc) * NR), kc)
                } else if !last {
                    (
                        bdata.wrapping_add((p_lo * self.k + pc + kc) * NR),
                        self.kcb.min(self.k - pc - kc),
                    )
                } else {
                    (bdata, 0)
                };
                let lines = next_kc * NR / 16;
                let per = lines.div_ceil(slivers);
                for s in 0..slivers {
                    let r0 = s * mr;
                    let row = i0 + r0;
                    let epi = last.then(|| TileEpi {
                        bias: if self.epi.bias.is_null() {
                            self.epi.bias
                        } else {
                            self.epi.bias.wrapping_add(j0)
                        },
                        gelu: self.epi.gelu,
                        relu: self.epi.relu,
                        res: if self.epi.res.is_null() {
                            self.epi.res
                        } else {
                            self.epi.res.wrapping_add(row * self.epi.ldr + j0)
                        },
                        ldr: self.epi.ldr,
                    });
                    let tile = Tile {
                        kc,
                        a: abuf.wrapping_add(s * kc * mr),
                        b: bptr,
                        c: self.c.wrapping_add(row * self.ldc + j0),
                        ldc: self.ldc,
                        mr: mr.min(mcur - r0),
                        nr,
                        load_c: self.accumulate || pc > 0,
                        epi,
                        pf: next.wrapping_add(s * per * 16),
                        pf_lines: per.min(lines.saturating_sub(s * per)),
                        pfa: next_a.wrapping_add(call * self.lda),
                        pfa_lines: if call < mcur {
                            line_span(next_a.wrapping_add(call * self.lda), next_a_kc)
                        } else {
                            0
                        },
                    };
                    call += 1;
                    // SAFETY: the tile's rows and columns lie inside A's block, B's panel, C, bias and residual
                    // (shapes checked in `gemm`); this task is the only writer of these elements of C.
                    unsafe { (self.micro.tile)(&tile) };
                }
            }
            pc += kc;
            if last {
                break;
            }
        }
    }
}

thread_local! {
    /// Each thread's buffer for packed blocks of A (at most `MC × KC` floats, 172 KB), kept between calls so a
    /// GEMM neither allocates nor page-faults it again.
    static PACK_A: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::zeros(0));
}

/// Runs `f` with this thread's packing buffer, grown to at least `len` floats (or a fresh one if it is in use).
fn with_pack_buffer<R>(len: usize, f: impl FnOnce(&mut AlignedBuf) -> R) -> R {
    PACK_A.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.as_slice().len() < len {
                *buf = AlignedBuf::zeros(len);
            }
            f(&mut buf)
        }
        Err(_) => f(&mut AlignedBuf::zeros(len)),
    })
}

/// Number of 64-byte lines that `len` floats from `p` touch.
fn line_span(p: *const f32, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let start = p as usize / 64;
    let end = (p as usize + len * 4 - 1) / 64;
    end - start + 1
}

/// Packs rows `0..mc` × columns `0..kc` of A (row stride `lda`) into slivers of `mr` rows: element `(r, kk)` of
/// sliver `s` goes to `dst[s·kc·mr + kk·mr + r]`; rows past `mc` in the last sliver are zero.
///
/// # Safety
/// `a` must be valid for reading the `mc × kc` block with row stride `lda`.
pub(crate) unsafe fn pack_a(
    a: *const f32,
    lda: usize,
    mc: usize,
    kc: usize,
    mr: usize,
    dst: &mut [f32],
) {
    if kc == 0 {
        return;
    }
    for s in 0..mc.div_ceil(mr) {
        let out = &mut dst[s * kc * mr..(s + 1) * kc * mr];
        let rows = mr.min(mc - s * mr);
        for r in 0..mr {
            if r < rows {
                let src = std::slice::from_raw_parts(a.add((s * mr + r) * lda), kc);
                for (kk, &v) in src.iter().enumerate() {
                    out[kk * mr + r] = v;
                }
            } else {
                for kk in 0..kc {
                    out[kk * mr + r] = 0.0;
                }
            }
        }
    }
}

/// `quick_gelu(x) = x · sigmoid(1.702 x)` with [`exp_approx`]; the scalar twin of the AVX-512 epilogue.
#[inline]
pub(crate) fn quick_gelu(x: f32) -> f32 {
    x / (1.0 + exp_approx(-1.702 * x))
}

/// `exp(x)` to about 2e-7 relative error: `2^n · p(r)` with `x = n·ln 2 + r`, `|r| ≤ ln2/2`, `p` Cephes' degree-6
/// polynomial; branch-free plain arithmetic so loops over it vectorise. Clamped to `[-87, 88]` (outputs ≥ 1.6e-38).
#[inline]
pub fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest via the 1.5·2^23 trick (valid for |x·log2 e| < 2^22), as `round` is a libm call on baseline
    // x86-64.
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFT) - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = exp_poly(r);
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// High part of ln 2 (exact in f32 with 9 bits).
pub(crate) const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 - LN2_HI`.
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` polynomial coefficients, highest degree first.
pub(crate) const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// `exp(r)` for `|r| ≤ ln2/2`: `1 + r + r²·P(r)`.
#[inline]
fn exp_poly(r: f32) -> f32 {
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = p * r + c;
    }
    p * r * r + r + 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_approx_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let e = (x as f64).exp();
            worst = worst.max(((exp_approx(x) as f64 - e) / e).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp_approx(-1000.0), exp_approx(-87.0));
        assert!(exp_approx(1000.0).is_finite());
    }

    #[test]
    fn quick_gelu_matches_definition() {
        for i in -2000..2000 {
            let x = i as f32 * 0.01;
            let want = x as f64 / (1.0 + (-1.702 * x as f64).exp());
            let got = quick_gelu(x) as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "x={x} got={got} want={want}"
            );
        }
        assert!(quick_gelu(-200.0).abs() < 1e-30);
        assert_eq!(quick_gelu(200.0), 200.0);
    }

    #[test]
    fn blocking_covers_rows_and_columns() {
        let b = PackedB::from_kn(&vec![0.0; 7 * 1000], 7, 1000);
        for &(m, threads) in &[
            (1usize, 1usize),
            (5, 2),
            (14, 2),
            (1576, 2),
            (1576, 1),
            (300, 8),
        ] {
            let p = Problem::new(
                m,
                7,
                1000,
                std::ptr::null(),
                7,
                &b,
                std::ptr::null_mut(),
                1000,
                false,
                TileEpi {
                    bias: std::ptr::null(),
                    gelu: false,
                    relu: false,
                    res: std::ptr::null(),
                    ldr: 0,
                },
                Micro {
                    mr: 14,
                    ..portable::MICRO
                },
                threads,
            );
            assert_eq!(p.mc % 14, 0);
            assert!(p.mc <= MC.max(14));
            // Row blocks tile 0..m in order, each non-empty and at most `mc` rows.
            let mb = p.tasks / p.nb;
            let mut next = 0;
            for ib in 0..mb {
                let (i0, rows) = p.rows(ib);
                assert_eq!(i0, next, "m={m} threads={threads} block {ib}");
                assert!(rows > 0 && rows <= p.mc);
                next += rows;
            }
            assert_eq!(next, m);
            if threads > 1 && mb > 1 {
                assert_eq!(
                    mb % threads.min(rayon::current_num_threads()),
                    0,
                    "m={m}: {mb} row blocks"
                );
            }
            assert!(p.nb * p.ppb * NR >= 1000 && (p.nb - 1) * p.ppb * NR < 1000);
            assert!(p.workers >= 1);
            assert!(p.kcb >= 7 && p.kcb.is_multiple_of(16));
        }
    }
}
