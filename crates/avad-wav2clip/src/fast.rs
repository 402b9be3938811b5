//! A fast fp32 CPU inference path for the Wav2CLIP audio encoder on `avad-kernels`' prepacked GEMM, numerically the
//! same function as [`Wav2Clip::embed_spectrogram`] / [`Wav2Clip::embed_batch`] (which stay the reference; the tests
//! hold the two within 1e-4).
//!
//! The network is the ResNet-18 of [`crate::resnet`] (He et al., "Deep Residual Learning for Image Recognition",
//! 2016, torchvision's `BasicBlock` layout, one input channel) in eval mode, then the `audio_transform` MLP. Shapes,
//! for N segments of a spectrogram with F = 257 bins and T frames (T = 46 for one second at 16 kHz), activations
//! kept channels-last (`[N, H, W, C]`, H along frequency, W along time):
//!
//! ```text
//! spectrogram [N, 1, F, T] = [N, F, T, 1] (one channel: the same memory)
//! stem:   im2col 7×7 s2 p3 → [N·H1·W1, 49] · W' + b', ReLU        → [N, 129, 23, 64]   (BN folded into W', b')
//! pool:   max 3×3 s2 p1                                          → [N, 65, 12, 64]
//! block:  t = ReLU(im2col3×3(x) · W1' + b1')                     (stride s on the first block of stages 2–4)
//!         y = x, or im2col1×1/s(x) · Wd' + bd' (projection)
//!         y = ReLU(im2col3×3(t) · W2' + b2' + y)                 (the shortcut is the GEMM's accumulated C)
//!         stages of 64, 128, 256, 512 channels: [N, 65, 12, 64] → [N, 33, 6, 128] → [N, 17, 3, 256] → [N, 9, 2, 512]
//! pool:   mean over H·W                                          → [N, 512]
//! head:   ReLU(x · W0ᵀ + b0) · W3ᵀ + b3                          → [N, 512]
//! ```
//!
//! Eval-mode batch norm `γ (x − μ) / √(σ² + ε) + β` is folded into the preceding convolution once, at
//! [`FastWav2Clip::new`] (in f64, rounded to f32): `W' = W · s`, `b' = β − μ · s` with `s = γ / √(σ² + ε)` per output
//! channel. Each convolution is an im2col copy (columns in `(kh, kw, c)` order, so every kernel row is one contiguous
//! copy of channels-last memory) and one GEMM whose epilogue adds the bias, the shortcut and applies the ReLU.
//!
//! Segments are processed in groups of a few (so the im2col buffers of a group stay in the caches); the groups go to
//! the worker threads one at a time, each running its GEMMs single-threaded. With fewer segments than threads the
//! groups run one after another and each GEMM uses the threads instead. Every output element is computed with the
//! same arithmetic whatever the grouping and the thread count, so the result does not depend on `threads` (bitwise).
//!
//! The front end is [`log_spectrogram_batch`] (host code, f64 FFT, the segments in parallel), the same function the
//! burn model calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use avad_kernels::{gemm, CpuOptions, Epilogue, GemmOptions, PackedB};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::Result;
use crate::model::{frame_signal, Wav2Clip};
use crate::resnet::{BatchNorm2d, Conv2d};
use crate::spectrogram::{log_spectrogram_batch, Normalisation, N_BINS};

/// The GEMM kernel selection of [`FastWav2ClipOptions::kernel`] (re-exported from avad-kernels).
pub use avad_kernels::KernelChoice;

/// Most segments in one group (one task of the worker threads).
const GROUP: usize = 4;

/// Options of a [`FastWav2Clip`]: threads (0: all of the rayon pool) and GEMM kernels, avad-kernels'
/// [`CpuOptions`].
pub type FastWav2ClipOptions = CpuOptions;

/// One convolution with its batch norm folded in, packed for the GEMM.
#[derive(Clone, Debug)]
struct Conv {
    /// `[k·k·cin, cout]` (rows in `(kh, kw, c)` order), packed.
    w: PackedB,
    /// `[cout]`: the folded batch-norm shift.
    b: Vec<f32>,
    k: usize,
    stride: usize,
    pad: usize,
    cin: usize,
    cout: usize,
}

impl Conv {
    /// Output height and width for an `h × w` input.
    fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h + 2 * self.pad - self.k) / self.stride + 1,
            (w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }
}

/// One `BasicBlock`, folded and packed.
#[derive(Clone, Debug)]
struct Block {
    conv1: Conv,
    conv2: Conv,
    down: Option<Conv>,
}

/// Wav2CLIP (ResNet-18 + projection head) with batch norm folded and weights prepacked, for fp32 inference on the
/// CPU. Built once from a loaded [`Wav2Clip`] by [`FastWav2Clip::new`].
#[derive(Clone, Debug)]
pub struct FastWav2Clip {
    stem: Conv,
    blocks: Vec<Block>,
    /// `audio_transform.sequential.0`, `[512, 512]` packed as `x · Wᵀ`.
    fc1: PackedB,
    fc1_b: Vec<f32>,
    /// `audio_transform.sequential.3`.
    fc2: PackedB,
    fc2_b: Vec<f32>,
    /// Spectrogram window (the model's).
    window: Vec<f32>,
    opts: FastWav2ClipOptions,
}

fn host<B: Backend, const N: usize>(t: Tensor<B, N>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

/// Folds eval-mode `bn` into `conv` and packs the result.
fn fold<B: Backend>(conv: &Conv2d<B>, bn: &BatchNorm2d<B>) -> Conv {
    let [cout, cin, k, k2] = conv.weight.dims();
    debug_assert_eq!(k, k2, "square kernels only");
    let w = host(conv.weight.val()); // [cout, cin, k, k]
    let (gamma, beta) = (host(bn.weight.val()), host(bn.bias.val())); // [cout]
    let (mean, var) = (host(bn.running_mean.val()), host(bn.running_var.val())); // [cout]
    let kk = k * k * cin;
    let mut wt = vec![0.0f32; cout * kk]; // [cout, (kh, kw, c)]
    let mut b = vec![0.0f32; cout];
    for co in 0..cout {
        let s = gamma[co] as f64 / (var[co] as f64 + bn.eps).sqrt();
        b[co] = (beta[co] as f64 - mean[co] as f64 * s) as f32;
        for ci in 0..cin {
            for kh in 0..k {
                for kw in 0..k {
                    wt[co * kk + (kh * k + kw) * cin + ci] =
                        (w[((co * cin + ci) * k + kh) * k + kw] as f64 * s) as f32;
                }
            }
        }
    }
    Conv {
        w: PackedB::from_nk(&wt, cout, kk),
        b,
        k,
        stride: conv.stride,
        pad: conv.padding,
        cin,
        cout,
    }
}

/// Reusable buffers of one worker.
#[derive(Default)]
struct Scratch {
    col: Vec<f32>,
    x: Vec<f32>,
    t: Vec<f32>,
    y: Vec<f32>,
}

/// `buf[..len]`, growing `buf` when needed (old contents are not cleared: every caller overwrites all of it).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// im2col of `g` channels-last maps `x [g, h, w, conv.cin]` into `col [g·ho·wo, k·k·cin]` (columns in `(kh, kw, c)`
/// order; zero where the kernel overlaps the padding). Returns `(ho, wo)`.
fn im2col(
    x: &[f32],
    g: usize,
    h: usize,
    w: usize,
    conv: &Conv,
    col: &mut Vec<f32>,
) -> (usize, usize) {
    let (ho, wo) = conv.out_hw(h, w);
    let (k, s, p, c) = (conv.k, conv.stride, conv.pad, conv.cin);
    let kk = k * k * c;
    let col = sized(col, g * ho * wo * kk);
    for (r, row) in col.chunks_exact_mut(kk).enumerate() {
        let (n, oy, ox) = (r / (ho * wo), (r / wo) % ho, r % wo);
        // Kernel columns kw0..kw1 fall inside the input: ix = ox·s + kw − p ∈ [0, w).
        let x0 = (ox * s) as isize - p as isize;
        let kw0 = (-x0).clamp(0, k as isize) as usize;
        let kw1 = (w as isize - x0).clamp(0, k as isize) as usize;
        for kh in 0..k {
            let dst = &mut row[kh * k * c..(kh + 1) * k * c];
            let iy = (oy * s + kh) as isize - p as isize;
            if iy < 0 || iy >= h as isize || kw0 >= kw1 {
                dst.fill(0.0);
                continue;
            }
            let src = ((n * h + iy as usize) * w) as isize + x0 + kw0 as isize;
            let src = src as usize * c;
            dst[..kw0 * c].fill(0.0);
            dst[kw0 * c..kw1 * c].copy_from_slice(&x[src..src + (kw1 - kw0) * c]);
            dst[kw1 * c..].fill(0.0);
        }
    }
    (ho, wo)
}

/// Max pool 3×3, stride 2, padding 1 (padding never wins: every window holds an input) of `x [g, h, w, c]` into
/// `out [g, ho, wo, c]`. Returns `(ho, wo)`.
fn max_pool(
    x: &[f32],
    g: usize,
    h: usize,
    w: usize,
    c: usize,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (ho, wo) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1);
    let out = sized(out, g * ho * wo * c);
    for (r, o) in out.chunks_exact_mut(c).enumerate() {
        let (n, oy, ox) = (r / (ho * wo), (r / wo) % ho, r % wo);
        o.fill(f32::NEG_INFINITY);
        for iy in (2 * oy).saturating_sub(1)..(2 * oy + 2).min(h) {
            for ix in (2 * ox).saturating_sub(1)..(2 * ox + 2).min(w) {
                let src = &x[((n * h + iy) * w + ix) * c..][..c];
                for (m, &v) in o.iter_mut().zip(src) {
                    *m = if v > *m { v } else { *m };
                }
            }
        }
    }
    (ho, wo)
}

/// Runs `f(i)` for `i < items` on `nt` workers of the current rayon pool (each taking the next item when done, with
/// its own `S`), and returns the results in item order.
fn on_workers<S: Default, R: Send>(
    nt: usize,
    items: usize,
    f: impl Fn(usize, &mut S) -> R + Sync,
) -> Vec<R> {
    if nt <= 1 || items <= 1 {
        let mut s = S::default();
        return (0..items).map(|i| f(i, &mut s)).collect();
    }
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items));
    let work = || {
        let mut s = S::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= items {
                break;
            }
            let r = f(i, &mut s);
            done.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
        }
    };
    rayon::scope(|sc| {
        for _ in 1..nt.min(items) {
            sc.spawn(|_| work());
        }
        work();
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

impl FastWav2Clip {
    /// Copies the weights of `model` (any backend; read once with `into_data`), folds every batch norm into its
    /// convolution and packs the results.
    pub fn new<B: Backend>(model: &Wav2Clip<B>, opts: FastWav2ClipOptions) -> Self {
        let r = &model.audio_encoder;
        let blocks = r
            .layer1
            .iter()
            .chain(&r.layer2)
            .chain(&r.layer3)
            .chain(&r.layer4)
            .map(|b| Block {
                conv1: fold(&b.conv1, &b.bn1),
                conv2: fold(&b.conv2, &b.bn2),
                down: b.downsample.as_ref().map(|d| fold(&d.conv, &d.bn)),
            })
            .collect();
        let t = &model.audio_transform;
        let lin = |l: &avad_nn::Linear<B>| {
            let [n, k] = l.weight.dims();
            let b = l
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; n], |b| host(b.val()));
            (PackedB::from_nk(&host(l.weight.val()), n, k), b)
        };
        let (fc1, fc1_b) = lin(&t.sequential_0);
        let (fc2, fc2_b) = lin(&t.sequential_3);
        Self {
            stem: fold(&r.conv1, &r.bn1),
            blocks,
            fc1,
            fc1_b,
            fc2,
            fc2_b,
            window: model.window.clone(),
            opts,
        }
    }

    /// The options given at construction (or by [`FastWav2Clip::set_options`]).
    pub fn options(&self) -> FastWav2ClipOptions {
        self.opts
    }

    /// Sets the options (threads, kernels) of later calls.
    pub fn set_options(&mut self, opts: FastWav2ClipOptions) {
        self.opts = opts;
    }

    /// Width of the embeddings (512).
    pub fn output_dim(&self) -> usize {
        self.fc2.n()
    }

    /// Embeds a batch of equally long 16 kHz segments: `[N, 512]` row-major (the same as
    /// [`Wav2Clip::embed_batch`]).
    pub fn embed_batch(
        &self,
        segments: &[&[f32]],
        normalisation: Normalisation,
    ) -> Result<Vec<f32>> {
        let (spec, t) = log_spectrogram_batch(segments, &self.window, normalisation)?;
        Ok(self.embed_spectrogram(&spec, [segments.len(), 1, N_BINS, t]))
    }

    /// Utterance embedding of 16 kHz mono audio: `[1, 512]` (as [`Wav2Clip::embed_utterance`]).
    pub fn embed_utterance(&self, samples: &[f32]) -> Result<Vec<f32>> {
        self.embed_batch(&[samples], Normalisation::Shared)
    }

    /// Frame mode, as [`Wav2Clip::embed_frames`]: `[n, 512]` row-major, one row per `librosa.util.frame` window.
    pub fn embed_frames(
        &self,
        samples: &[f32],
        frame_length: usize,
        hop_length: usize,
        normalisation: Normalisation,
    ) -> Result<Vec<f32>> {
        let frames = frame_signal(samples, frame_length, hop_length)?;
        self.embed_batch(&frames, normalisation)
    }

    /// Standardised log-spectrogram `spec` of `shape` `[N, 1, H, W]` (row-major; H = 257 bins, W = frames) →
    /// embeddings `[N, 512]` row-major: [`Wav2Clip::embed_spectrogram`] on the same data.
    ///
    /// # Panics
    /// When `shape[1] != 1`, `spec.len()` is not the product of `shape`, or H or W is 0.
    pub fn embed_spectrogram(&self, spec: &[f32], shape: [usize; 4]) -> Vec<f32> {
        let [n, c, h, w] = shape;
        assert_eq!(c, 1, "FastWav2Clip::embed_spectrogram: one input channel");
        assert_eq!(
            spec.len(),
            n * h * w,
            "FastWav2Clip::embed_spectrogram: spec must be [{n}, 1, {h}, {w}]"
        );
        assert!(
            h > 0 && w > 0,
            "FastWav2Clip::embed_spectrogram: empty spectrogram"
        );
        if n == 0 {
            return Vec::new();
        }
        let nt = self.opts.resolved_threads();
        let width = self.blocks.last().map_or(self.stem.cout, |b| b.conv2.cout);
        // Groups of at most GROUP segments, at least one per worker when there are enough segments.
        let per = GROUP.min(n.div_ceil(nt)).max(1);
        let groups = n.div_ceil(per);
        let pooled: Vec<f32> = if groups >= nt {
            let go = self.opts.gemm_options(1);
            on_workers(nt, groups, |gi, sc: &mut Scratch| {
                let s0 = gi * per;
                let g = per.min(n - s0);
                self.resnet(&spec[s0 * h * w..(s0 + g) * h * w], g, h, w, &go, sc)
            })
            .concat()
        } else {
            let go = self.opts.gemm_options(nt);
            let mut sc = Scratch::default();
            (0..groups)
                .flat_map(|gi| {
                    let s0 = gi * per;
                    let g = per.min(n - s0);
                    self.resnet(&spec[s0 * h * w..(s0 + g) * h * w], g, h, w, &go, &mut sc)
                })
                .collect()
        };
        debug_assert_eq!(pooled.len(), n * width);
        // Projection head on the whole batch: ReLU(x · W0ᵀ + b0) · W3ᵀ + b3.
        let go = self.opts.gemm_options(nt);
        let mut hidden = vec![0.0f32; n * self.fc1.n()]; // [N, 512]
        gemm(
            n,
            &pooled,
            width,
            &self.fc1,
            &mut hidden,
            self.fc1.n(),
            &Epilogue::bias_relu(&self.fc1_b),
            &go,
        );
        let mut out = vec![0.0f32; n * self.fc2.n()]; // [N, 512]
        gemm(
            n,
            &hidden,
            self.fc1.n(),
            &self.fc2,
            &mut out,
            self.fc2.n(),
            &Epilogue::bias(&self.fc2_b),
            &go,
        );
        out
    }

    /// The ResNet body on `g` spectrograms `[g, h, w]` (= `[g, h, w, 1]` channels-last): pooled features `[g, 512]`.
    fn resnet(
        &self,
        spec: &[f32],
        g: usize,
        h: usize,
        w: usize,
        go: &GemmOptions,
        sc: &mut Scratch,
    ) -> Vec<f32> {
        let Scratch { col, x, t, y } = sc;
        // Stem: conv 7×7 s2 + BN + ReLU → t [g, h1, w1, 64]; max pool → x [g, h2, w2, 64].
        let stem = &self.stem;
        let (h1, w1) = im2col(spec, g, h, w, stem, col);
        let m = g * h1 * w1;
        let kk = stem.k * stem.k * stem.cin;
        gemm(
            m,
            &col[..m * kk],
            kk,
            &stem.w,
            sized(t, m * stem.cout),
            stem.cout,
            &Epilogue::bias_relu(&stem.b),
            go,
        );
        let (mut h, mut w) = max_pool(&t[..m * stem.cout], g, h1, w1, stem.cout, x);
        let mut c = stem.cout;
        for b in &self.blocks {
            // t = ReLU(BN1(conv1(x))) [g, ho, wo, cout]
            let (c1, c2) = (&b.conv1, &b.conv2);
            let (ho, wo) = im2col(&x[..g * h * w * c], g, h, w, c1, col);
            let m = g * ho * wo;
            let k1 = c1.k * c1.k * c1.cin;
            gemm(
                m,
                &col[..m * k1],
                k1,
                &c1.w,
                sized(t, m * c1.cout),
                c1.cout,
                &Epilogue::bias_relu(&c1.b),
                go,
            );
            // y = shortcut [g, ho, wo, cout]: BN(conv1×1(x)), or x itself.
            match &b.down {
                Some(d) => {
                    im2col(&x[..g * h * w * c], g, h, w, d, col);
                    gemm(
                        m,
                        &col[..m * d.cin],
                        d.cin,
                        &d.w,
                        sized(y, m * d.cout),
                        d.cout,
                        &Epilogue::bias(&d.b),
                        go,
                    );
                }
                None => std::mem::swap(x, y),
            }
            // y = ReLU(BN2(conv2(t)) + y): the shortcut is accumulated into the GEMM's C.
            im2col(&t[..m * c1.cout], g, ho, wo, c2, col);
            let k2 = c2.k * c2.k * c2.cin;
            gemm(
                m,
                &col[..m * k2],
                k2,
                &c2.w,
                &mut y[..m * c2.cout],
                c2.cout,
                &Epilogue::bias_relu(&c2.b),
                &GemmOptions {
                    accumulate: true,
                    ..*go
                },
            );
            std::mem::swap(x, y);
            (h, w, c) = (ho, wo, c2.cout);
        }
        // Global average pool: [g, h, w, c] → [g, c].
        let hw = h * w;
        let mut pooled = vec![0.0f32; g * c];
        for (n, p) in pooled.chunks_exact_mut(c).enumerate() {
            let mut sum = vec![0.0f64; c];
            for pos in x[n * hw * c..(n + 1) * hw * c].chunks_exact(c) {
                for (s, &v) in sum.iter_mut().zip(pos) {
                    *s += v as f64;
                }
            }
            for (o, s) in p.iter_mut().zip(sum) {
                *o = (s / hw as f64) as f32;
            }
        }
        pooled
    }
}
