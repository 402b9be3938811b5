//! A fast fp32 CPU inference path for the CLIP ViT image tower on `avad-kernels`' prepacked GEMM, numerically the
//! same function as [`ClipVisionModel::forward`] (which stays the reference; the tests hold the two within 1e-4).
//!
//! It mirrors Hugging Face `transformers/models/clip/modeling_clip.py` (`CLIPVisionEmbeddings`,
//! `CLIPVisionTransformer`, `CLIPEncoderLayer`, `CLIPAttention`, `CLIPMLP`, then `visual_projection` of
//! `CLIPVisionModelWithProjection`), i.e. the ViT of Radford et al., "Learning Transferable Visual Models From Natural
//! Language Supervision" (2021). Shapes, with B images, C channels, side S pixels, patch P, G = S / P, T = G² + 1
//! tokens, width D, H heads of `hd = D / H`, MLP width I:
//!
//! ```text
//! pixels [B, C, S, S] ─ patchify ─ [B·G², C·P·P] · W_patchᵀ ─ [B·G², D]
//! x [B·T, D] = (class token | patches) + positions;  x = pre_LN(x)
//! per layer:  h = LN1(x)                                     (one pass per row for mean and variance)
//!             qkv [B·T, 3D] = h · [Wq; Wk; Wv]ᵀ + [bq; bk; bv]  (one GEMM on the stacked weight)
//!             per image and head: P = softmax(q·kᵀ / √hd) [T, T], o = P · v [T, hd]   (heads read with stride 3D)
//!             x = o · Woᵀ + bo + x;   x = quick_gelu(LN2(x) · W1ᵀ + b1) · W2ᵀ + b2 + x   (fused epilogues)
//! last layer: attention, out-proj and MLP only for the class token (its attention still reads all T keys)
//! out [B, proj] = post_LN(x_cls) · W_projᵀ
//! ```
//!
//! All weights are copied to host `f32` and packed once by [`FastVisionEncoder::new`]. Only the `quick_gelu` MLP
//! (every OpenAI CLIP) is supported.

use avad_kernels::cpu::{for_chunks, layer_norm, softmax_scaled};
use avad_kernels::{gemm, CpuOptions, Epilogue, LayerNormParams, PackedB};
use burn::tensor::{backend::Backend, Tensor};

use crate::error::ClipError;
use crate::vision::ClipVisionModel;
use avad_nn::LayerNorm;

/// The GEMM kernel selection of [`FastVisionOptions::kernel`] (re-exported from avad-kernels).
pub use avad_kernels::KernelChoice;

/// Options of a [`FastVisionEncoder`]: threads (0: all of the rayon pool) and GEMM kernels, avad-kernels'
/// [`CpuOptions`].
pub type FastVisionOptions = CpuOptions;

/// LayerNorm parameters on the host.
type Norm = LayerNormParams;

/// One transformer block, packed.
#[derive(Clone, Debug)]
struct Layer {
    ln1: Norm,
    /// `[3D, D]` (q, k, v stacked) packed as `x · Wᵀ`.
    qkv: PackedB,
    qkv_b: Vec<f32>,
    out: PackedB,
    out_b: Vec<f32>,
    ln2: Norm,
    fc1: PackedB,
    fc1_b: Vec<f32>,
    fc2: PackedB,
    fc2_b: Vec<f32>,
}

/// The CLIP image tower (with its projection) with prepacked weights, for fp32 inference on the CPU.
#[derive(Clone, Debug)]
pub struct FastVisionEncoder {
    channels: usize,
    image_size: usize,
    patch: usize,
    grid: usize,
    tokens: usize,
    width: usize,
    heads: usize,
    /// `[D, C·P·P]` packed.
    patch_w: PackedB,
    /// `[D]`: class embedding + position 0.
    cls_pos: Vec<f32>,
    /// `[T, D]`.
    pos: Vec<f32>,
    pre_ln: Norm,
    layers: Vec<Layer>,
    post_ln: Norm,
    proj: PackedB,
    proj_b: Option<Vec<f32>>,
    opts: FastVisionOptions,
}

fn host<B: Backend, const N: usize>(t: Tensor<B, N>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

fn norm<B: Backend>(ln: &LayerNorm<B>) -> Norm {
    Norm {
        w: host(ln.weight.val()),
        b: host(ln.bias.val()),
        eps: ln.eps,
    }
}

fn linear_bias<B: Backend>(l: &avad_nn::Linear<B>, n: usize) -> Vec<f32> {
    l.bias
        .as_ref()
        .map_or_else(|| vec![0.0; n], |b| host(b.val()))
}

impl FastVisionEncoder {
    /// Copies and packs the weights of `model` (any backend; read once with `into_data`).
    ///
    /// # Errors
    /// [`ClipError::Config`] when the model's MLP uses erf GELU instead of quick_gelu.
    pub fn new<B: Backend>(
        model: &ClipVisionModel<B>,
        opts: FastVisionOptions,
    ) -> Result<Self, ClipError> {
        let [d, c, p, _] = model.patch_embedding.dims();
        let (channels, image_size, patch) =
            (model.num_channels, model.image_size, model.patch_size);
        debug_assert_eq!((c, p), (channels, patch));
        let grid = image_size / patch;
        let tokens = grid * grid + 1;
        let heads = model
            .encoder
            .layers
            .first()
            .map_or(1, |l| l.self_attn.num_heads);
        let patch_w = PackedB::from_nk(&host(model.patch_embedding.val()), d, c * p * p);
        let pos = host(model.position_embedding.val());
        let cls = host(model.class_embedding.val());
        let cls_pos = cls.iter().zip(&pos[..d]).map(|(a, b)| a + b).collect();
        let mut layers = Vec::with_capacity(model.encoder.layers.len());
        for l in &model.encoder.layers {
            if !l.mlp.quick_gelu {
                return Err(ClipError::Config(
                    "FastVisionEncoder supports only the quick_gelu MLP".into(),
                ));
            }
            let a = &l.self_attn;
            let mut wqkv = host(a.q_proj.weight.val());
            wqkv.extend(host(a.k_proj.weight.val()));
            wqkv.extend(host(a.v_proj.weight.val()));
            let mut qkv_b = linear_bias(&a.q_proj, d);
            qkv_b.extend(linear_bias(&a.k_proj, d));
            qkv_b.extend(linear_bias(&a.v_proj, d));
            let inter = l.mlp.fc1.weight.dims()[0];
            layers.push(Layer {
                ln1: norm(&l.layer_norm1),
                qkv: PackedB::from_nk(&wqkv, 3 * d, d),
                qkv_b,
                out: PackedB::from_nk(&host(a.out_proj.weight.val()), d, d),
                out_b: linear_bias(&a.out_proj, d),
                ln2: norm(&l.layer_norm2),
                fc1: PackedB::from_nk(&host(l.mlp.fc1.weight.val()), inter, d),
                fc1_b: linear_bias(&l.mlp.fc1, inter),
                fc2: PackedB::from_nk(&host(l.mlp.fc2.weight.val()), d, inter),
                fc2_b: linear_bias(&l.mlp.fc2, d),
            });
        }
        let proj_dim = model.visual_projection.weight.dims()[0];
        Ok(Self {
            channels,
            image_size,
            patch,
            grid,
            tokens,
            width: d,
            heads,
            patch_w,
            cls_pos,
            pos,
            pre_ln: norm(&model.pre_layrnorm),
            layers,
            post_ln: norm(&model.post_layernorm),
            proj: PackedB::from_nk(&host(model.visual_projection.weight.val()), proj_dim, d),
            proj_b: model.visual_projection.bias.as_ref().map(|b| host(b.val())),
            opts,
        })
    }

    /// The options given at construction.
    pub fn options(&self) -> FastVisionOptions {
        self.opts
    }

    /// Sets the options (threads, kernels) of later [`FastVisionEncoder::encode`] calls.
    pub fn set_options(&mut self, opts: FastVisionOptions) {
        self.opts = opts;
    }

    /// Input `[C, S, S]` of one image: `(channels, image side)`.
    pub fn input_shape(&self) -> (usize, usize) {
        (self.channels, self.image_size)
    }

    /// Width of the output embeddings (the projection dimension).
    pub fn output_dim(&self) -> usize {
        self.proj.n()
    }

    /// Projected image embeddings (the same as [`ClipVisionModel::forward`]): `pixels` is `[batch, C, S, S]`
    /// row-major, the result `[batch, proj]` row-major.
    ///
    /// # Panics
    /// When `pixels.len() != batch · C · S · S`.
    pub fn encode(&self, pixels: &[f32], batch: usize) -> Vec<f32> {
        let (c, s, p, g, t, d) = (
            self.channels,
            self.image_size,
            self.patch,
            self.grid,
            self.tokens,
            self.width,
        );
        assert_eq!(
            pixels.len(),
            batch * c * s * s,
            "FastVisionEncoder::encode: pixels must be [{batch}, {c}, {s}, {s}]"
        );
        if batch == 0 {
            return Vec::new();
        }
        let nt = self.opts.resolved_threads();
        let go = self.opts.gemm_options(nt);
        let rows = batch * t;
        let cpp = c * p * p;
        let gg = g * g;

        // Patchify: [B, C, G, P, G, P] → [B·G·G, C·P·P] in the conv's (c, py, px) order.
        let mut patches = vec![0.0f32; batch * gg * cpp];
        for_chunks(&mut patches, gg * cpp, batch, nt, |b0, chunk| {
            for (bi, img_p) in chunk.chunks_mut(gg * cpp).enumerate() {
                let img = &pixels[(b0 + bi) * c * s * s..(b0 + bi + 1) * c * s * s];
                for gy in 0..g {
                    for gx in 0..g {
                        let dst = &mut img_p[(gy * g + gx) * cpp..(gy * g + gx + 1) * cpp];
                        for ch in 0..c {
                            for py in 0..p {
                                let src = ch * s * s + (gy * p + py) * s + gx * p;
                                let o = (ch * p + py) * p;
                                dst[o..o + p].copy_from_slice(&img[src..src + p]);
                            }
                        }
                    }
                }
            }
        });
        let mut emb = vec![0.0f32; batch * gg * d];
        gemm(
            batch * gg,
            &patches,
            cpp,
            &self.patch_w,
            &mut emb,
            d,
            &Epilogue::NONE,
            &go,
        );
        drop(patches);

        // Tokens: class + position 0, patches + positions 1..; then pre-LN into the residual stream x.
        let mut tmp = vec![0.0f32; rows * d];
        for_chunks(&mut tmp, t * d, batch, nt, |b0, chunk| {
            for (bi, img_x) in chunk.chunks_mut(t * d).enumerate() {
                img_x[..d].copy_from_slice(&self.cls_pos);
                let e = &emb[(b0 + bi) * gg * d..(b0 + bi + 1) * gg * d];
                for ((o, &a), &q) in img_x[d..].iter_mut().zip(e).zip(&self.pos[d..]) {
                    *o = a + q;
                }
            }
        });
        drop(emb);
        let mut x = vec![0.0f32; rows * d];
        layer_norm(&tmp, d, rows, &mut x, &self.pre_ln, nt);
        let mut x2 = tmp;

        let mut h = vec![0.0f32; rows * d];
        let mut qkv = vec![0.0f32; rows * 3 * d];
        let mut att = vec![0.0f32; rows * d];
        let inter = self.layers.first().map_or(0, |l| l.fc1.n());
        let mut mlp = vec![0.0f32; rows * inter];
        let last = self.layers.len().saturating_sub(1);
        let mut cls = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            layer_norm(&x, d, rows, &mut h, &l.ln1, nt);
            gemm(
                rows,
                &h,
                d,
                &l.qkv,
                &mut qkv,
                3 * d,
                &Epilogue::bias(&l.qkv_b),
                &go,
            );
            if li < last {
                self.attention(&qkv, &mut att, batch, false, nt);
                gemm(
                    rows,
                    &att,
                    d,
                    &l.out,
                    &mut x2,
                    d,
                    &Epilogue::bias_residual(&l.out_b, &x, d),
                    &go,
                );
                std::mem::swap(&mut x, &mut x2);
                layer_norm(&x, d, rows, &mut h, &l.ln2, nt);
                gemm(
                    rows,
                    &h,
                    d,
                    &l.fc1,
                    &mut mlp,
                    inter,
                    &Epilogue::bias_quick_gelu(&l.fc1_b),
                    &go,
                );
                gemm(
                    rows,
                    &mlp,
                    inter,
                    &l.fc2,
                    &mut x2,
                    d,
                    &Epilogue::bias_residual(&l.fc2_b, &x, d),
                    &go,
                );
                std::mem::swap(&mut x, &mut x2);
            } else {
                // Last layer: only the class token's row matters for the pooled output.
                let mut att_cls = vec![0.0f32; batch * d];
                self.attention(&qkv, &mut att_cls, batch, true, nt);
                let mut c1 = vec![0.0f32; batch * d];
                gemm(
                    batch,
                    &att_cls,
                    d,
                    &l.out,
                    &mut c1,
                    d,
                    &Epilogue::bias_residual(&l.out_b, &x, t * d),
                    &go,
                );
                let mut hc = vec![0.0f32; batch * d];
                layer_norm(&c1, d, batch, &mut hc, &l.ln2, nt);
                let mut mc = vec![0.0f32; batch * inter];
                gemm(
                    batch,
                    &hc,
                    d,
                    &l.fc1,
                    &mut mc,
                    inter,
                    &Epilogue::bias_quick_gelu(&l.fc1_b),
                    &go,
                );
                cls = vec![0.0f32; batch * d];
                gemm(
                    batch,
                    &mc,
                    inter,
                    &l.fc2,
                    &mut cls,
                    d,
                    &Epilogue::bias_residual(&l.fc2_b, &c1, d),
                    &go,
                );
            }
        }
        let (cls, ld_cls) = if self.layers.is_empty() {
            (x, t * d)
        } else {
            (cls, d)
        };
        let mut pooled = vec![0.0f32; batch * d];
        layer_norm(&cls, ld_cls, batch, &mut pooled, &self.post_ln, nt);
        let mut out = vec![0.0f32; batch * self.proj.n()];
        let epi = self
            .proj_b
            .as_deref()
            .map_or(Epilogue::NONE, Epilogue::bias);
        gemm(
            batch,
            &pooled,
            d,
            &self.proj,
            &mut out,
            self.proj.n(),
            &epi,
            &go,
        );
        out
    }

    /// Multi-head attention of every image from the fused `qkv [B·T, 3D]` into `out` (`[B·T, D]`, or `[B, D]` for
    /// the class token only when `cls_only`). Images are split over `nt` tasks; each works through its images'
    /// heads, reading q, k and v of a head in place (row stride 3D).
    fn attention(&self, qkv: &[f32], out: &mut [f32], batch: usize, cls_only: bool, nt: usize) {
        let (t, d, nh) = (self.tokens, self.width, self.heads);
        let hd = d / nh;
        let q_rows = if cls_only { 1 } else { t };
        let scale = (hd as f32).powf(-0.5);
        // With fewer images than threads, let each GEMM use the threads instead.
        let go = self.opts.gemm_options(if batch < nt { nt } else { 1 });
        for_chunks(out, q_rows * d, batch, nt, |b0, chunk| {
            let mut scores = vec![0.0f32; q_rows * t];
            for (bi, o) in chunk.chunks_mut(q_rows * d).enumerate() {
                let base = &qkv[(b0 + bi) * t * 3 * d..(b0 + bi + 1) * t * 3 * d];
                for h in 0..nh {
                    let k = PackedB::from_nk_strided(&base[d + h * hd..], t, hd, 3 * d);
                    gemm(
                        q_rows,
                        &base[h * hd..],
                        3 * d,
                        &k,
                        &mut scores,
                        t,
                        &Epilogue::NONE,
                        &go,
                    );
                    for row in scores.chunks_mut(t) {
                        softmax_scaled(row, scale);
                    }
                    let v = PackedB::from_kn_strided(&base[2 * d + h * hd..], t, hd, 3 * d);
                    gemm(
                        q_rows,
                        &scores,
                        t,
                        &v,
                        &mut o[h * hd..],
                        d,
                        &Epilogue::NONE,
                        &go,
                    );
                }
            }
        });
    }
}
