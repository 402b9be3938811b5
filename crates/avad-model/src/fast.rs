//! A fast fp32 CPU inference path for the model's forward pass on `avad-kernels`' prepacked GEMM: the same function
//! as [`AvadClip::forward_with_text_features`] (which stays the reference; the tests hold the two within 1e-4), for
//! prediction with cached class text features.
//!
//! Every weight is copied to the host and packed once by [`FastModel::new`]; a forward pass is then GEMMs with fused
//! epilogues and a few row-wise passes, on plain `f32` slices. With `n` chunks of `T` snippets, width `D`, `h = D/2`:
//!
//! ```text
//! x = visual + positions                                             [n·T, D]
//! per block:  x = x + out(window_attention(LN1(x) · Wqkvᵀ + b))       (one QKV GEMM, residual in the epilogue)
//!             x = x + c_proj(quick_gelu(c_fc(LN2(x))))                (quick_gelu and residual in the epilogues)
//! graph:      S = x · [W1 | W3]                                       one GEMM for gc1 and gc3's supports
//!             R = conv5(x) for gc1 | gc3                             one GEMM: row t of x read as the window x[t−2..t+3]
//!             H = quick_gelu([adj4 · S1 | dis · S3] + R)             the residual is the GEMM's accumulated C
//!             X = quick_gelu([adj4 · (H1 W2) | dis · (H3 W4)] + H);  v = X · Wlinᵀ + b    (X is already cat[x1, x2])
//! audio TCN:  per block relu(conv2(relu(conv1(a)))) + a → relu        causal taps as shifted GEMMs, bias fused
//! fusion:     [gate | r] = [v, a] · [Wg; Wr0]ᵀ + b                    one GEMM; sigmoid / exact GELU in one pass
//!             X_av = v + sigmoid(gate) ⊙ (gelu(r) · Wr2ᵀ + b)
//! FE net:     mu = 3 × (mu + relu(conv3(mu)))                         (students; θ is not computed)
//! heads:      logits1 = (f + mlp2(f)) · wcᵀ + bc;  prompt, mlp1, alignment logits per chunk
//! ```
//!
//! Attention windows are computed per window and head, reading q, k and v in place from the QKV rows; short windows
//! by direct dot products, long ones by GEMMs. Cross-attention fusion is not supported ([`FastModel::new`] says so;
//! use the burn path for it).

use avad_kernels::cpu::{gelu, layer_norm, sigmoid, softmax_scaled};
use avad_kernels::{
    gemm, CpuOptions, Epilogue, EpilogueActivation, GemmOptions, LayerNormParams, PackedB,
};
use burn::prelude::*;
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::fusion::Fusion;
use crate::graph::{GraphConvolution, ADJ_THRESHOLD};
use crate::model::{check_lengths, AvadClip};
use crate::nn::{Conv1d, Mlp};
use crate::prompt::{PromptVariant, LOGIT_TEMPERATURE};

/// Options of a [`FastModel`]: threads (0: all of the rayon pool) and GEMM kernels, avad-kernels' [`CpuOptions`].
pub type FastModelOptions = CpuOptions;

/// Windows up to this length are computed by dot products, longer ones by GEMMs.
const DIRECT_WINDOW: usize = 16;

/// Most floats of work buffers a [`FastModel`] keeps between calls (64 MB; one 256-snippet chunk of the official
/// sizes needs about a sixth of it).
const SCRATCH_CAP: usize = 16 << 20;

/// Work buffers kept between calls, so that repeated forward passes neither allocate nor page-fault them again.
#[derive(Default)]
struct Scratch(std::sync::Mutex<Vec<Vec<f32>>>);

impl Scratch {
    /// A buffer of `len` floats with unspecified contents: every caller overwrites all of it.
    fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let mut v = best.map_or_else(Vec::new, |i| free.swap_remove(i));
        drop(free);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    /// Returns a buffer for later calls (dropped when the kept buffers would exceed [`SCRATCH_CAP`]).
    fn give(&self, v: Vec<f32>) {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = free.iter().map(Vec::capacity).sum();
        if held + v.capacity() <= SCRATCH_CAP {
            free.push(v);
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

fn host<B: Backend, const N: usize>(t: Tensor<B, N>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

fn unsupported(what: &str) -> ModelError {
    ModelError::Config(format!("the fast CPU engine does not support {what}"))
}

/// `y = x · Wᵀ + b` with W packed.
#[derive(Clone, Debug)]
struct Lin {
    w: PackedB,
    b: Vec<f32>,
}

impl Lin {
    fn new<B: Backend>(l: &avad_nn::Linear<B>) -> Self {
        Self::stacked(&[l])
    }

    /// The layers' outputs side by side (one GEMM for several layers reading the same input).
    fn stacked<B: Backend>(ls: &[&avad_nn::Linear<B>]) -> Self {
        let k = ls[0].weight.dims()[1];
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for l in ls {
            let [n, kk] = l.weight.dims();
            debug_assert_eq!(kk, k);
            w.extend(host(l.weight.val()));
            match &l.bias {
                Some(bias) => b.extend(host(bias.val())),
                None => b.extend(std::iter::repeat_n(0.0, n)),
            }
        }
        let n = b.len();
        Self {
            w: PackedB::from_nk(&w, n, k),
            b,
        }
    }

    fn n(&self) -> usize {
        self.w.n()
    }

    fn k(&self) -> usize {
        self.w.k()
    }

    /// `c[m, n] = act(a · Wᵀ + b) (+ residual)`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
        act: EpilogueActivation,
        residual: Option<(&[f32], usize)>,
        go: &GemmOptions,
    ) {
        let epi = Epilogue {
            bias: Some(&self.b),
            activation: act,
            residual: residual.map(|(data, ld)| avad_kernels::Residual { data, ld }),
        };
        gemm(m, a, lda, &self.w, c, ldc, &epi, go);
    }
}

/// A stride-1 convolution along time with "same" zero padding (`2·pad = k − 1`), as one GEMM over the padded input
/// read with overlapping rows: weight rows in `(tap, c_in)` order.
#[derive(Clone, Debug)]
struct SameConv {
    w: PackedB,
    b: Vec<f32>,
    pad: usize,
    cin: usize,
}

impl SameConv {
    /// Stacks the output channels of `convs` (all with the same input width, kernel and padding).
    fn new<B: Backend>(convs: &[&Conv1d<B>]) -> Result<Self> {
        let [_, cin, k] = convs[0].weight.dims();
        let pad = convs[0].padding;
        let mut rows: Vec<Vec<f32>> = Vec::new(); // one [k·cin] row per output channel
        let mut b = Vec::new();
        for c in convs {
            let [cout, ci, kk] = c.weight.dims();
            if ci != cin || kk != k || c.padding != pad || c.dilation != 1 || 2 * pad + 1 != k {
                return Err(unsupported(&format!(
                    "a conv1d with kernel {kk}, padding {}, dilation {} (only stride-1 'same' convolutions)",
                    c.padding, c.dilation
                )));
            }
            let w = host(c.weight.val()); // [cout, cin, k]
            for co in 0..cout {
                let mut row = vec![0.0f32; k * cin];
                for ci in 0..cin {
                    for j in 0..k {
                        row[j * cin + ci] = w[(co * cin + ci) * k + j];
                    }
                }
                rows.push(row);
            }
            match &c.bias {
                Some(bias) => b.extend(host(bias.val())),
                None => b.extend(std::iter::repeat_n(0.0, cout)),
            }
        }
        let n = rows.len();
        let flat: Vec<f32> = rows.concat();
        Ok(Self {
            w: PackedB::from_nk(&flat, n, k * cin),
            b,
            pad,
            cin,
        })
    }

    fn n(&self) -> usize {
        self.w.n()
    }

    /// `c[t, n] = act(conv(x)[t] + b) (+ residual)` for one chunk, `xpad` holding `pad` zero rows, the `t` rows of
    /// the chunk and `pad` zero rows again (`[t + 2·pad, cin]`).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        t: usize,
        xpad: &[f32],
        c: &mut [f32],
        ldc: usize,
        act: EpilogueActivation,
        residual: Option<(&[f32], usize)>,
        accumulate: bool,
        go: &GemmOptions,
    ) {
        debug_assert_eq!(xpad.len(), (t + 2 * self.pad) * self.cin);
        let epi = Epilogue {
            bias: Some(&self.b),
            activation: act,
            residual: residual.map(|(data, ld)| avad_kernels::Residual { data, ld }),
        };
        let go = GemmOptions { accumulate, ..*go };
        gemm(t, xpad, self.cin, &self.w, c, ldc, &epi, &go);
    }
}

/// Copies the `t` rows (`[t, c]`) of a chunk into `out` between `pad` zero rows on each side.
fn pad_rows(x: &[f32], t: usize, c: usize, pad: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize((t + 2 * pad) * c, 0.0);
    out[pad * c..(pad + t) * c].copy_from_slice(&x[..t * c]);
}

/// One causal dilated convolution of the TCN (weight norm applied): tap `j` multiplies `x[t − shift_j]`.
#[derive(Clone, Debug)]
struct CausalConv {
    /// `(shift, [cin → cout])` per tap, the unshifted tap first.
    taps: Vec<(usize, PackedB)>,
    b: Vec<f32>,
}

impl CausalConv {
    fn new(w: &[f32], b: Vec<f32>, [cout, cin, k]: [usize; 3], dilation: usize) -> Self {
        let mut taps: Vec<(usize, PackedB)> = (0..k)
            .map(|j| {
                let mut wj = vec![0.0f32; cout * cin];
                for co in 0..cout {
                    for ci in 0..cin {
                        wj[co * cin + ci] = w[(co * cin + ci) * k + j];
                    }
                }
                ((k - 1 - j) * dilation, PackedB::from_nk(&wj, cout, cin))
            })
            .collect();
        taps.sort_by_key(|(s, _)| *s);
        Self { taps, b }
    }

    fn cout(&self) -> usize {
        self.b.len()
    }

    /// `c = relu(conv(x))` over `n` chunks of `t` rows (`x [n·t, cin]`, `c [n·t, cout]`).
    fn run(&self, n: usize, t: usize, x: &[f32], c: &mut [f32], go: &GemmOptions) {
        let (cin, cout) = (self.taps[0].1.k(), self.cout());
        let ((s0, w0), rest) = self.taps.split_first().expect("k >= 1");
        debug_assert_eq!(*s0, 0);
        gemm(n * t, x, cin, w0, c, cout, &Epilogue::bias(&self.b), go);
        let acc = GemmOptions {
            accumulate: true,
            ..*go
        };
        for (s, w) in rest {
            if *s >= t {
                continue; // reads only the zeros before the start
            }
            for b in 0..n {
                let (x0, c0) = (b * t * cin, (b * t + s) * cout);
                gemm(
                    t - s,
                    &x[x0..],
                    cin,
                    w,
                    &mut c[c0..],
                    cout,
                    &Epilogue::NONE,
                    &acc,
                );
            }
        }
        for v in c[..n * t * cout].iter_mut() {
            *v = v.max(0.0);
        }
    }
}

#[derive(Clone, Debug)]
struct TcnBlock {
    conv1: CausalConv,
    conv2: CausalConv,
    down: Option<SameConv>,
}

#[derive(Clone, Debug)]
struct Block {
    ln1: LayerNormParams,
    qkv: Lin,
    out: Lin,
    ln2: LayerNormParams,
    fc: Lin,
    proj: Lin,
    heads: usize,
}

#[derive(Clone, Debug)]
struct FastMlp {
    fc: Lin,
    proj: Lin,
}

impl FastMlp {
    fn new<B: Backend>(m: &Mlp<B>) -> Self {
        Self {
            fc: Lin::new(&m.c_fc),
            proj: Lin::new(&m.c_proj),
        }
    }

    /// `out = x + c_proj(quick_gelu(c_fc(x)))` for `m` rows.
    fn residual(&self, m: usize, x: &[f32], out: &mut [f32], sc: &Scratch, go: &GemmOptions) {
        let (d, hidden) = (self.fc.k(), self.fc.n());
        let mut h = sc.take(m * hidden);
        self.fc.run(
            m,
            x,
            d,
            &mut h,
            hidden,
            EpilogueActivation::QuickGelu,
            None,
            go,
        );
        self.proj.run(
            m,
            &h,
            hidden,
            out,
            d,
            EpilogueActivation::None,
            Some((x, d)),
            go,
        );
        sc.give(h);
    }
}

#[derive(Clone, Debug)]
enum FastFusion {
    /// `[gate_proj; residual_proj.0]` stacked, then `residual_proj.2`.
    Adaptive {
        gr: Lin,
        r2: Lin,
    },
    Add,
    ConcatLinear(Lin),
}

/// What [`FastModel::forward`] returns: the outputs of [`crate::ModelOutput`] that prediction reads, row-major on
/// the host (no θ; the text features are the caller's).
#[derive(Debug, Clone)]
pub struct FastOutput {
    /// Chunks n.
    pub chunks: usize,
    /// Snippets per chunk T.
    pub len: usize,
    /// Width D.
    pub width: usize,
    /// Classes C.
    pub classes: usize,
    /// The feature the heads read, `[n, T, D]`.
    pub features: Vec<f32>,
    /// The video encoder's output v, `[n, T, D]`.
    pub visual_features: Vec<f32>,
    /// TCN output, `[n, T, Da]` (audio models).
    pub audio_features: Option<Vec<f32>>,
    /// Adaptive fusion's gate, `[n, T, D]`.
    pub fusion_gate: Option<Vec<f32>>,
    /// Adaptive fusion's gated residual, `[n, T, D]`.
    pub fusion_residual: Option<Vec<f32>>,
    /// C-branch logits, `[n, T]`.
    pub logits1: Vec<f32>,
    /// A-branch alignment logits, `[n, T, C]`.
    pub logits2: Vec<f32>,
}

/// The model with prepacked weights, for fp32 inference on the CPU (see the module docs).
#[derive(Clone, Debug)]
pub struct FastModel {
    t: usize,
    d: usize,
    window: usize,
    pos: Vec<f32>,
    blocks: Vec<Block>,
    /// `x · [W1 | W3]` (gc1 and gc3 supports), `[D, D]`.
    gc13: PackedB,
    /// gc1 and gc3's convolution residuals stacked.
    gc13_res: SameConv,
    gc2: PackedB,
    gc4: PackedB,
    /// `DistanceAdj` `[T, T]`.
    dist: Vec<f32>,
    linear: Lin,
    tcn: Option<(Vec<TcnBlock>, usize)>,
    fusion: Option<FastFusion>,
    fe: Vec<SameConv>,
    mlp1: FastMlp,
    mlp2: FastMlp,
    classifier: Lin,
    prompt: PromptVariant,
    opts: FastModelOptions,
    scratch: Scratch,
}

fn gc_weight<B: Backend>(g: &GraphConvolution<B>) -> (Vec<f32>, [usize; 2]) {
    (host(g.weight.val()), g.weight.dims())
}

impl FastModel {
    /// Copies and packs the weights of `model` (any backend; read once with `into_data`).
    ///
    /// # Errors
    /// [`ModelError::Config`] for what the fast path does not implement (cross-attention fusion, graph convolutions
    /// or FE-net convolutions other than the official shapes).
    pub fn new<B: Backend>(model: &AvadClip<B>, opts: FastModelOptions) -> Result<Self> {
        let [t, d] = model.frame_position_embeddings.dims();
        let h = d / 2;
        let blocks = model
            .temporal
            .resblocks
            .iter()
            .map(|b| {
                let a = &b.attn;
                let [three_d, dd] = a.in_proj_weight.dims();
                Block {
                    ln1: norm(&b.ln_1),
                    qkv: Lin {
                        w: PackedB::from_nk(&host(a.in_proj_weight.val()), three_d, dd),
                        b: host(a.in_proj_bias.val()),
                    },
                    out: Lin::new(&a.out_proj),
                    ln2: norm(&b.ln_2),
                    fc: Lin::new(&b.mlp.c_fc),
                    proj: Lin::new(&b.mlp.c_proj),
                    heads: a.n_head,
                }
            })
            .collect();
        let (w1, s1) = gc_weight(&model.gc1);
        let (w3, s3) = gc_weight(&model.gc3);
        let (w2, s2) = gc_weight(&model.gc2);
        let (w4, s4) = gc_weight(&model.gc4);
        if s1 != [d, h] || s3 != [d, h] || s2 != [h, h] || s4 != [h, h] {
            return Err(unsupported("graph convolutions of these shapes"));
        }
        let (Some(r1), Some(r3), None, None) = (
            &model.gc1.residual,
            &model.gc3.residual,
            &model.gc2.residual,
            &model.gc4.residual,
        ) else {
            return Err(unsupported("graph convolutions with these residuals"));
        };
        let mut w13 = vec![0.0f32; d * 2 * h]; // [D, 2h] = [W1 | W3]
        for k in 0..d {
            w13[k * 2 * h..k * 2 * h + h].copy_from_slice(&w1[k * h..(k + 1) * h]);
            w13[k * 2 * h + h..(k + 1) * 2 * h].copy_from_slice(&w3[k * h..(k + 1) * h]);
        }
        let e = std::f32::consts::E;
        let dist = (0..t * t)
            .map(|k| {
                let dd = ((k / t) as f32 - (k % t) as f32).abs();
                (-dd / e).exp()
            })
            .collect();
        let tcn = match &model.temporalconvnet {
            Some(net) => {
                let mut blocks = Vec::new();
                let mut cin = 0;
                for (i, blk) in net.network.iter().enumerate() {
                    let conv = |c: &crate::audio_tcn::WeightNormConv1d<B>| {
                        CausalConv::new(
                            &host(c.weight()),
                            host(c.bias.val()),
                            c.weight_v.dims(),
                            c.dilation,
                        )
                    };
                    if i == 0 {
                        cin = blk.conv1.weight_v.dims()[1];
                    }
                    let down = match &blk.downsample {
                        Some(c) => Some(SameConv::new(&[c])?),
                        None => None,
                    };
                    blocks.push(TcnBlock {
                        conv1: conv(&blk.conv1),
                        conv2: conv(&blk.conv2),
                        down,
                    });
                }
                Some((blocks, cin))
            }
            None => None,
        };
        let fusion = match &model.fusion {
            None => None,
            Some(f) => Some(fast_fusion(f)?),
        };
        let fe = match &model.fe_net {
            Some(fe) => fe
                .conv
                .iter()
                .map(|c| SameConv::new(&[c]))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            t,
            d,
            window: model.attn_window,
            pos: host(model.frame_position_embeddings.val()),
            blocks,
            gc13: PackedB::from_kn(&w13, d, 2 * h),
            gc13_res: SameConv::new(&[r1, r3])?,
            gc2: PackedB::from_kn(&w2, h, h),
            gc4: PackedB::from_kn(&w4, h, h),
            dist,
            linear: Lin::new(&model.linear),
            tcn,
            fusion,
            fe,
            mlp1: FastMlp::new(&model.mlp1),
            mlp2: FastMlp::new(&model.mlp2),
            classifier: Lin::new(&model.classifier),
            prompt: model.prompt_variant,
            opts,
            scratch: Scratch::default(),
        })
    }

    /// The options given at construction (or by [`FastModel::set_options`]).
    pub fn options(&self) -> FastModelOptions {
        self.opts
    }

    /// Sets the options (threads, kernels) of later calls.
    pub fn set_options(&mut self, opts: FastModelOptions) {
        self.opts = opts;
    }

    /// Padded chunk length T.
    pub fn visual_length(&self) -> usize {
        self.t
    }

    /// Visual width D.
    pub fn visual_width(&self) -> usize {
        self.d
    }

    /// Audio input width, for audio models.
    pub fn audio_width(&self) -> Option<usize> {
        self.tcn.as_ref().map(|(_, cin)| *cin)
    }

    /// [`AvadClip::forward_with_text_features`] on host data: `visual [n, T, D]` and `audio [n, T, Da]` row-major
    /// with `n = lengths.len()` chunks, valid lengths 1..=T, class text features `text [C, D]`.
    pub fn forward(
        &self,
        visual: &[f32],
        audio: Option<&[f32]>,
        lengths: &[usize],
        text: &[f32],
    ) -> Result<FastOutput> {
        let (t, d) = (self.t, self.d);
        let n = lengths.len();
        if visual.len() != n * t * d {
            return Err(ModelError::Input(format!(
                "visual input has {} values, the model needs [{n}, {t}, {d}]",
                visual.len()
            )));
        }
        check_lengths(lengths, n, t)?;
        if text.is_empty() || !text.len().is_multiple_of(d) {
            return Err(ModelError::Input(format!(
                "text features have {} values, not a multiple of {d}",
                text.len()
            )));
        }
        let classes = text.len() / d;
        let audio = match (&self.tcn, audio) {
            (Some((_, da)), Some(a)) if a.len() == n * t * da => Some(a),
            (Some((_, da)), Some(a)) => {
                return Err(ModelError::Input(format!(
                    "audio input has {} values, expected [{n}, {t}, {da}]",
                    a.len()
                )))
            }
            (Some(_), None) => {
                return Err(ModelError::Input("this model needs audio features".into()))
            }
            (None, Some(_)) => {
                return Err(ModelError::Input(
                    "this model takes no audio features".into(),
                ))
            }
            (None, None) => None,
        };
        let nt = self.opts.resolved_threads();
        let go = self.opts.gemm_options(nt);
        let v = self.encode_video(visual, lengths, nt, &go);
        let audio_features = audio.map(|a| self.tcn_forward(n, a, &go));
        let rows = n * t;
        let sc = &self.scratch;
        let (fused, gate, gated) = match (&self.fusion, &audio_features) {
            (Some(f), Some(a)) => fuse(f, rows, d, &v, a, sc, &go),
            _ => (None, None, None),
        };
        let mut features = fused.unwrap_or_else(|| v.clone());
        if !self.fe.is_empty() {
            features = self.fe_forward(n, &features, &go);
        }
        // C branch: logits1 = classifier(f + mlp2(f)).
        let mut g = sc.take(rows * d);
        self.mlp2.residual(rows, &features, &mut g, sc, &go);
        let mut logits1 = vec![0.0f32; rows];
        self.classifier.run(
            rows,
            &g,
            d,
            &mut logits1,
            1,
            EpilogueActivation::None,
            None,
            &go,
        );
        sc.give(g);
        let logits2 = self.alignment(n, classes, &features, &logits1, lengths, text, &go);
        Ok(FastOutput {
            chunks: n,
            len: t,
            width: d,
            classes,
            features,
            visual_features: v,
            audio_features,
            fusion_gate: gate,
            fusion_residual: gated,
            logits1,
            logits2,
        })
    }

    /// Positions, the windowed transformer, both graph branches and `linear`: `[n·T, D]`.
    fn encode_video(
        &self,
        visual: &[f32],
        lengths: &[usize],
        nt: usize,
        go: &GemmOptions,
    ) -> Vec<f32> {
        let (t, d) = (self.t, self.d);
        let n = lengths.len();
        let rows = n * t;
        let mut x: Vec<f32> = visual
            .chunks_exact(t * d)
            .flat_map(|c| c.iter().zip(&self.pos).map(|(a, b)| a + b))
            .collect();
        let sc = &self.scratch;
        let mut x2 = sc.take(rows * d);
        let mut h = sc.take(rows * d);
        let mut qkv = sc.take(rows * 3 * d);
        let mut att = sc.take(rows * d);
        let hidden = self.blocks.first().map_or(0, |b| b.fc.n());
        let mut mlp = sc.take(rows * hidden);
        for b in &self.blocks {
            layer_norm(&x, d, rows, &mut h, &b.ln1, nt);
            b.qkv.run(
                rows,
                &h,
                d,
                &mut qkv,
                3 * d,
                EpilogueActivation::None,
                None,
                go,
            );
            window_attention(&qkv, &mut att, n, t, d, b.heads, self.window, nt, go);
            b.out.run(
                rows,
                &att,
                d,
                &mut x2,
                d,
                EpilogueActivation::None,
                Some((&x, d)),
                go,
            );
            std::mem::swap(&mut x, &mut x2);
            layer_norm(&x, d, rows, &mut h, &b.ln2, nt);
            b.fc.run(
                rows,
                &h,
                d,
                &mut mlp,
                hidden,
                EpilogueActivation::QuickGelu,
                None,
                go,
            );
            b.proj.run(
                rows,
                &mlp,
                hidden,
                &mut x2,
                d,
                EpilogueActivation::None,
                Some((&x, d)),
                go,
            );
            std::mem::swap(&mut x, &mut x2);
        }
        for buf in [x2, h, qkv, att, mlp] {
            sc.give(buf);
        }

        // Graph branches. s13 = x · [W1 | W3]; hh = [gc1 | gc3] outputs after quick_gelu.
        let hw = d / 2;
        let w2 = 2 * hw;
        let mut s13 = sc.take(rows * w2);
        gemm(rows, &x, d, &self.gc13, &mut s13, w2, &Epilogue::NONE, go);
        let mut hh = sc.take(rows * w2);
        let mut adjs = Vec::with_capacity(n);
        let mut xpad = Vec::new();
        let acc_gelu = Epilogue {
            bias: None,
            activation: EpilogueActivation::QuickGelu,
            residual: None,
        };
        let acc = GemmOptions {
            accumulate: true,
            ..*go
        };
        for (b, &len) in lengths.iter().enumerate() {
            let r0 = b * t;
            let xb = &x[r0 * d..(r0 + t) * d];
            let adj = adj4(xb, t, d, len, sc, go);
            pad_rows(xb, t, d, self.gc13_res.pad, &mut xpad);
            let hb = &mut hh[r0 * w2..(r0 + t) * w2];
            self.gc13_res
                .run(t, &xpad, hb, w2, EpilogueActivation::None, None, false, go);
            let sb = &s13[r0 * w2..(r0 + t) * w2];
            let s1 = PackedB::from_kn_strided(sb, t, hw, w2);
            let s3 = PackedB::from_kn_strided(&sb[hw..], t, hw, w2);
            gemm(t, &adj, t, &s1, hb, w2, &acc_gelu, &acc);
            gemm(t, &self.dist, t, &s3, &mut hb[hw..], w2, &acc_gelu, &acc);
            adjs.push(adj);
        }
        drop(xpad);
        // s24 = [x1_h · W2 | x2_h · W4]; xx = quick_gelu([adj · s2 | dis · s4] + hh) = cat[x1, x2].
        let s24 = &mut s13;
        gemm(rows, &hh, w2, &self.gc2, s24, w2, &Epilogue::NONE, go);
        gemm(
            rows,
            &hh[hw..],
            w2,
            &self.gc4,
            &mut s24[hw..],
            w2,
            &Epilogue::NONE,
            go,
        );
        let mut xx = hh;
        for (b, adj) in adjs.iter().enumerate() {
            let r0 = b * t;
            let sb = &s24[r0 * w2..(r0 + t) * w2];
            let s2 = PackedB::from_kn_strided(sb, t, hw, w2);
            let s4 = PackedB::from_kn_strided(&sb[hw..], t, hw, w2);
            let xb = &mut xx[r0 * w2..(r0 + t) * w2];
            gemm(t, adj, t, &s2, xb, w2, &acc_gelu, &acc);
            gemm(t, &self.dist, t, &s4, &mut xb[hw..], w2, &acc_gelu, &acc);
        }
        for adj in adjs {
            sc.give(adj);
        }
        sc.give(s13);
        let mut v = x;
        self.linear
            .run(rows, &xx, w2, &mut v, d, EpilogueActivation::None, None, go);
        sc.give(xx);
        v
    }

    /// The audio TCN on `a [n·T, Da]`.
    fn tcn_forward(&self, n: usize, a: &[f32], go: &GemmOptions) -> Vec<f32> {
        let t = self.t;
        let (blocks, _) = self.tcn.as_ref().expect("audio model");
        let sc = &self.scratch;
        let mut x: Option<Vec<f32>> = None; // the previous block's output (None: the input `a`)
        let mut xpad = Vec::new();
        for blk in blocks {
            let cout = blk.conv1.cout();
            let xin: &[f32] = x.as_deref().unwrap_or(a);
            let mut o1 = sc.take(n * t * cout);
            blk.conv1.run(n, t, xin, &mut o1, go);
            let mut o2 = sc.take(n * t * cout);
            blk.conv2.run(n, t, &o1, &mut o2, go);
            sc.give(o1);
            let res = match &blk.down {
                Some(down) => {
                    let cin = down.cin;
                    let mut r = sc.take(n * t * down.n());
                    for b in 0..n {
                        pad_rows(&xin[b * t * cin..], t, cin, down.pad, &mut xpad);
                        down.run(
                            t,
                            &xpad,
                            &mut r[b * t * cout..(b + 1) * t * cout],
                            cout,
                            EpilogueActivation::None,
                            None,
                            false,
                            go,
                        );
                    }
                    Some(r)
                }
                None => None,
            };
            for (o, r) in o2.iter_mut().zip(res.as_deref().unwrap_or(xin)) {
                *o = (*o + r).max(0.0);
            }
            if let Some(r) = res {
                sc.give(r);
            }
            if let Some(old) = x.replace(o2) {
                sc.give(old);
            }
        }
        x.unwrap_or_else(|| a.to_vec())
    }

    /// The student's FE net mean branch: `mu = 3 × (mu + relu(conv(mu)))` per chunk.
    fn fe_forward(&self, n: usize, x: &[f32], go: &GemmOptions) -> Vec<f32> {
        let (t, d) = (self.t, self.d);
        let mut out = x.to_vec();
        let mut xpad = Vec::new();
        for c in &self.fe {
            for b in 0..n {
                let chunk = &mut out[b * t * d..(b + 1) * t * d];
                pad_rows(chunk, t, d, c.pad, &mut xpad);
                let p = c.pad * d;
                c.run(
                    t,
                    &xpad,
                    chunk,
                    d,
                    EpilogueActivation::Relu,
                    Some((&xpad[p..p + t * d], d)),
                    false,
                    go,
                );
            }
        }
        out
    }

    /// The visual prompt, `mlp1` and the alignment logits `[n, T, C]`.
    #[allow(clippy::too_many_arguments)]
    fn alignment(
        &self,
        n: usize,
        classes: usize,
        f: &[f32],
        logits1: &[f32],
        lengths: &[usize],
        text: &[f32],
        go: &GemmOptions,
    ) -> Vec<f32> {
        let (t, d) = (self.t, self.d);
        // Prompted class embeddings of every chunk, [n·C, D].
        let mut prompted = vec![0.0f32; n * classes * d];
        for (b, &len) in lengths.iter().enumerate() {
            let fb = &f[b * t * d..(b + 1) * t * d];
            let lb = &logits1[b * t..(b + 1) * t];
            let pb = &mut prompted[b * classes * d..(b + 1) * classes * d];
            visual_prompt(pb, text, fb, lb, t, d, classes, len, self.prompt);
        }
        let sc = &self.scratch;
        let mut prompted2 = vec![0.0f32; n * classes * d];
        self.mlp1
            .residual(n * classes, &prompted, &mut prompted2, sc, go);
        drop(prompted);
        // logits2 = normalize(f) · normalize(t')ᵀ / 0.07.
        let mut fn_ = sc.take(f.len());
        fn_.copy_from_slice(f);
        fn_.chunks_exact_mut(d).for_each(l2_normalize);
        prompted2.chunks_exact_mut(d).for_each(l2_normalize);
        let mut logits2 = vec![0.0f32; n * t * classes];
        for b in 0..n {
            let tb = PackedB::from_nk(
                &prompted2[b * classes * d..(b + 1) * classes * d],
                classes,
                d,
            );
            gemm(
                t,
                &fn_[b * t * d..],
                d,
                &tb,
                &mut logits2[b * t * classes..(b + 1) * t * classes],
                classes,
                &Epilogue::NONE,
                go,
            );
        }
        sc.give(fn_);
        let temp = LOGIT_TEMPERATURE as f32;
        for v in logits2.iter_mut() {
            *v /= temp;
        }
        logits2
    }
}

fn norm<B: Backend>(ln: &avad_nn::LayerNorm<B>) -> LayerNormParams {
    LayerNormParams {
        w: host(ln.weight.val()),
        b: host(ln.bias.val()),
        eps: ln.eps,
    }
}

fn fast_fusion<B: Backend>(f: &Fusion<B>) -> Result<FastFusion> {
    if let (Some(g), Some(r0), Some(r2)) = (&f.gate_proj, &f.residual_proj_0, &f.residual_proj_2) {
        return Ok(FastFusion::Adaptive {
            gr: Lin::stacked(&[g, r0]),
            r2: Lin::new(r2),
        });
    }
    if let Some(l) = &f.linear {
        return Ok(FastFusion::ConcatLinear(Lin::new(l)));
    }
    if f.cross_attn.is_some() {
        return Err(unsupported("cross-attention fusion"));
    }
    if f.add {
        return Ok(FastFusion::Add);
    }
    Err(unsupported("a fusion module without parameters"))
}

/// The fused feature, gate and gated residual of `fusion` on `v [rows, D]`, `a [rows, Da]`.
#[allow(clippy::type_complexity)]
fn fuse(
    fusion: &FastFusion,
    rows: usize,
    d: usize,
    v: &[f32],
    a: &[f32],
    sc: &Scratch,
    go: &GemmOptions,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>) {
    let da = a.len() / rows.max(1);
    let concat = || {
        let mut z = sc.take(rows * (d + da));
        for ((zr, vr), ar) in z
            .chunks_exact_mut(d + da)
            .zip(v.chunks_exact(d))
            .zip(a.chunks_exact(da))
        {
            zr[..d].copy_from_slice(vr);
            zr[d..].copy_from_slice(ar);
        }
        z
    };
    match fusion {
        FastFusion::Add => (
            Some(v.iter().zip(a).map(|(x, y)| x + y).collect()),
            None,
            None,
        ),
        FastFusion::ConcatLinear(l) => {
            let z = concat();
            let mut out = vec![0.0f32; rows * d];
            l.run(
                rows,
                &z,
                d + da,
                &mut out,
                d,
                EpilogueActivation::None,
                None,
                go,
            );
            sc.give(z);
            (Some(out), None, None)
        }
        FastFusion::Adaptive { gr, r2 } => {
            let z = concat();
            let mut g = sc.take(rows * 2 * d); // [gate | r] per row
            gr.run(
                rows,
                &z,
                d + da,
                &mut g,
                2 * d,
                EpilogueActivation::None,
                None,
                go,
            );
            sc.give(z);
            let mut gate = vec![0.0f32; rows * d];
            let act = |(row, gr): (&mut [f32], &mut [f32])| {
                let (gp, rp) = row.split_at_mut(d);
                for (o, &x) in gr.iter_mut().zip(gp.iter()) {
                    *o = sigmoid(x);
                }
                for x in rp.iter_mut() {
                    *x = gelu(*x);
                }
            };
            if go.threads == 1 {
                g.chunks_exact_mut(2 * d)
                    .zip(gate.chunks_exact_mut(d))
                    .for_each(act);
            } else {
                // Rows in blocks of 16, spread over the pool.
                g.par_chunks_mut(32 * d)
                    .zip(gate.par_chunks_mut(16 * d))
                    .for_each(|(g16, gate16)| {
                        g16.chunks_exact_mut(2 * d)
                            .zip(gate16.chunks_exact_mut(d))
                            .for_each(act)
                    });
            }
            let mut gated = vec![0.0f32; rows * d];
            r2.run(
                rows,
                &g[d..],
                2 * d,
                &mut gated,
                d,
                EpilogueActivation::None,
                None,
                go,
            );
            sc.give(g);
            let mut fused = vec![0.0f32; rows * d];
            for ((o, r), (&w, &x)) in fused
                .iter_mut()
                .zip(gated.iter_mut())
                .zip(gate.iter().zip(v))
            {
                *r *= w;
                *o = x + *r;
            }
            (Some(fused), Some(gate), Some(gated))
        }
    }
}

/// `x / ‖x‖₂` in place, without epsilon (as the official code).
fn l2_normalize(x: &mut [f32]) {
    let n = dot(x, x).sqrt();
    for v in x.iter_mut() {
        *v /= n;
    }
}

/// Dot product with 16 independent lanes (vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &p), &q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += s · x`.
fn axpy(y: &mut [f32], s: f32, x: &[f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += s * v;
    }
}

/// `adj4` of one chunk `x [t, d]` with `len` valid rows: `[t, t]`, see [`crate::graph::adj4`].
fn adj4(x: &[f32], t: usize, d: usize, len: usize, sc: &Scratch, go: &GemmOptions) -> Vec<f32> {
    let mut s = sc.take(t * t);
    let xt = PackedB::from_nk(x, t, d);
    gemm(t, x, d, &xt, &mut s, t, &Epilogue::NONE, go);
    let norms: Vec<f32> = x.chunks_exact(d).map(|r| dot(r, r).sqrt()).collect();
    for (i, row) in s.chunks_exact_mut(t).enumerate() {
        if i >= len {
            row.fill(0.0);
            continue;
        }
        for (j, v) in row[..len].iter_mut().enumerate() {
            let c = *v / (norms[i] * norms[j] + 1e-20);
            *v = if c <= ADJ_THRESHOLD as f32 { 0.0 } else { c };
        }
        softmax_scaled(&mut row[..len], 1.0);
        row[len..].fill(0.0);
    }
    s
}

/// The (audio-)visual prompt of one chunk: class embeddings `text [C, D]`, features `f [t, D]`, raw `logits1 [t]`
/// → prompted class embeddings `out [C, D]` (before `mlp1`), see [`crate::prompt::visual_prompt`].
#[allow(clippy::too_many_arguments)]
fn visual_prompt(
    out: &mut [f32],
    text: &[f32],
    f: &[f32],
    logits1: &[f32],
    t: usize,
    d: usize,
    classes: usize,
    len: usize,
    variant: PromptVariant,
) {
    match variant {
        PromptVariant::Add | PromptVariant::Softmax => {
            let mut p = vec![0.0f32; d];
            for (row, &l) in f.chunks_exact(d).zip(logits1) {
                axpy(&mut p, l, row);
            }
            l2_normalize(&mut p);
            // Softmax: S = softmax(t pᵀ) over C identical columns, t' = t + S p (= t + p up to rounding).
            let share = 1.0 / classes as f32;
            for (o, tc) in out.chunks_exact_mut(d).zip(text.chunks_exact(d)) {
                if variant == PromptVariant::Add {
                    for ((o, &a), &b) in o.iter_mut().zip(tc).zip(&p) {
                        *o = a + b;
                    }
                } else {
                    for ((o, &a), &b) in o.iter_mut().zip(tc).zip(&p) {
                        let mut sp = 0.0f32;
                        for _ in 0..classes {
                            sp += share * b;
                        }
                        *o = a + sp;
                    }
                }
            }
        }
        PromptVariant::Paper => {
            // p_t = normalize(f_t · logits1_t); S = softmax over valid t of t_c · p_t; t' = t + normalize(S f).
            let mut p: Vec<f32> = f
                .chunks_exact(d)
                .zip(logits1)
                .flat_map(|(row, &l)| row.iter().map(move |&v| v * l))
                .collect();
            p.chunks_exact_mut(d).for_each(l2_normalize);
            let mut sim = vec![0.0f32; t];
            for (o, tc) in out.chunks_exact_mut(d).zip(text.chunks_exact(d)) {
                for (s, pt) in sim[..len].iter_mut().zip(p.chunks_exact(d)) {
                    *s = dot(tc, pt);
                }
                softmax_scaled(&mut sim[..len], 1.0);
                let mut agg = vec![0.0f32; d];
                for (&s, row) in sim[..len].iter().zip(f.chunks_exact(d)) {
                    axpy(&mut agg, s, row);
                }
                l2_normalize(&mut agg);
                for ((o, &a), &b) in o.iter_mut().zip(tc).zip(&agg) {
                    *o = a + b;
                }
            }
        }
    }
}

/// Windowed multi-head self-attention from the fused `qkv [n·T, 3D]` into `out [n·T, D]`: each chunk's positions in
/// windows of `window` (the last one clipped), attention only inside a window, as
/// [`crate::temporal::MultiheadAttention::forward_pattern`] with [`crate::temporal::AttentionPattern::Window`].
#[allow(clippy::too_many_arguments)]
fn window_attention(
    qkv: &[f32],
    out: &mut [f32],
    n: usize,
    t: usize,
    d: usize,
    heads: usize,
    window: usize,
    nt: usize,
    go: &GemmOptions,
) {
    let w = window.clamp(1, t.max(1));
    let hd = d / heads;
    let scale = (1.0 / (hd as f64).sqrt()) as f32;
    let per_chunk = t.div_ceil(w);
    let windows = n * per_chunk;
    // Window i: chunk i / per_chunk, positions s..e of it.
    let span = |i: usize| {
        let (b, k) = (i / per_chunk, i % per_chunk);
        let s = k * w;
        (b * t + s, (s + w).min(t) - s)
    };
    // With fewer windows than threads, let the GEMMs use the threads instead.
    let inner = if windows < nt {
        *go
    } else {
        GemmOptions { threads: 1, ..*go }
    };
    let one = |i: usize, o: &mut [f32], scores: &mut Vec<f32>| {
        let (r0, len) = span(i);
        let base = &qkv[r0 * 3 * d..(r0 + len) * 3 * d];
        scores.resize(len * len, 0.0);
        for h in 0..heads {
            let (qo, ko, vo) = (h * hd, d + h * hd, 2 * d + h * hd);
            if len <= DIRECT_WINDOW {
                for a in 0..len {
                    let q = &base[a * 3 * d + qo..a * 3 * d + qo + hd];
                    for b in 0..len {
                        scores[a * len + b] = dot(q, &base[b * 3 * d + ko..b * 3 * d + ko + hd]);
                    }
                }
            } else {
                let k = PackedB::from_nk_strided(&base[ko..], len, hd, 3 * d);
                gemm(
                    len,
                    &base[qo..],
                    3 * d,
                    &k,
                    scores,
                    len,
                    &Epilogue::NONE,
                    &inner,
                );
            }
            for row in scores.chunks_mut(len) {
                softmax_scaled(row, scale);
            }
            if len <= DIRECT_WINDOW {
                for a in 0..len {
                    let oa = &mut o[a * d + qo..a * d + qo + hd];
                    oa.fill(0.0);
                    for b in 0..len {
                        axpy(
                            oa,
                            scores[a * len + b],
                            &base[b * 3 * d + vo..b * 3 * d + vo + hd],
                        );
                    }
                }
            } else {
                let v = PackedB::from_kn_strided(&base[vo..], len, hd, 3 * d);
                gemm(
                    len,
                    scores,
                    len,
                    &v,
                    &mut o[qo..],
                    d,
                    &Epilogue::NONE,
                    &inner,
                );
            }
        }
    };
    // Windows in order cover the rows of `out` contiguously; split them into `nt` groups of whole windows.
    let groups = if windows < nt { 1 } else { nt.max(1) };
    let per = windows.div_ceil(groups);
    let bounds: Vec<(usize, usize)> = (0..windows)
        .step_by(per)
        .map(|i0| (i0, (i0 + per).min(windows)))
        .collect();
    let mut parts: Vec<(usize, usize, &mut [f32])> = Vec::with_capacity(bounds.len());
    let mut rest = out;
    for &(i0, i1) in &bounds {
        let rows: usize = (i0..i1).map(|i| span(i).1).sum();
        let (head, tail) = rest.split_at_mut(rows * d);
        parts.push((i0, i1, head));
        rest = tail;
    }
    let work = |(i0, i1, part): (usize, usize, &mut [f32])| {
        let mut scores = Vec::new();
        let mut off = 0;
        for i in i0..i1 {
            let len = span(i).1;
            one(i, &mut part[off..off + len * d], &mut scores);
            off += len * d;
        }
    };
    if parts.len() <= 1 {
        parts.into_iter().for_each(work);
    } else {
        parts.into_par_iter().for_each(work);
    }
}
