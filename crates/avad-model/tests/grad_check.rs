//! Autodiff gradients of every tensor op the model uses, against central finite differences (f32, step 1e-2).
//! A guard against silent stack bugs on burn upgrades (candle had wrong conv1d kernel grads for batch > 1 and
//! gradient-free fused LayerNorm / softmax; see docs/architecture.md, "Tensor stack").

mod common;

use avad_model::audio_tcn::WeightNormConv1d;
use avad_model::losses::{binary_cross_entropy, clas2, clasm, clasm_focal, topk_mean_over_time};
use avad_model::{compute_losses, AvadClip, LossConfig};
use avad_nn::{gelu, quick_gelu, LayerNorm};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Distribution;
use common::*;

const STEP: f32 = 1e-2;

fn rand<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
    <B as Backend>::seed(&device(), seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device())
}

fn to_ad<const D: usize>(t: &Tensor<B, D>) -> Tensor<AD, D> {
    Tensor::from_data(t.to_data(), &device())
}

/// A fixed random projection so the scalar loss has a non-trivial gradient.
fn weighted_sum<const D: usize>(y: Tensor<AD, D>, seed: u64) -> Tensor<AD, 1> {
    let w = to_ad(&rand::<D>(y.dims(), seed));
    (y * w).sum()
}

fn scalar(t: Tensor<AD, 1>) -> f64 {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()[0] as f64
}

/// Compares ∂f/∂x (autodiff) with central differences on `coords = (count, within)` coordinates spread over the
/// first `within` elements (all coordinates when None); returns the norm-wise relative error.
fn grad_check<const D: usize>(
    name: &str,
    x0: &Tensor<B, D>,
    f: impl Fn(Tensor<AD, D>) -> Tensor<AD, 1>,
    coords: Option<(usize, usize)>,
    tol: f64,
) -> f64 {
    grad_check_step(name, x0, f, coords, tol, STEP)
}

fn grad_check_step<const D: usize>(
    name: &str,
    x0: &Tensor<B, D>,
    f: impl Fn(Tensor<AD, D>) -> Tensor<AD, 1>,
    coords: Option<(usize, usize)>,
    tol: f64,
    step: f32,
) -> f64 {
    let x = to_ad(x0).require_grad();
    let grads = f(x.clone()).backward();
    let g: Vec<f32> = x
        .grad(&grads)
        .expect("gradient")
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap();
    let xv: Vec<f32> = x0.to_data().convert::<f32>().to_vec().unwrap();
    let shape = x0.dims();
    let n = xv.len();
    let idxs: Vec<usize> = match coords {
        Some((m, within)) if m < n => (0..m).map(|i| (i * 7919 + 13) % within.min(n)).collect(),
        _ => (0..n).collect(),
    };
    let eval = |v: Vec<f32>| scalar(f(Tensor::from_data(TensorData::new(v, shape), &device())));
    let (mut num, mut den) = (0f64, 0f64);
    for &i in &idxs {
        let mut p = xv.clone();
        p[i] += step;
        let mut m = xv.clone();
        m[i] -= step;
        let fd = (eval(p) - eval(m)) / (2.0 * step as f64);
        num += (fd - g[i] as f64).powi(2);
        den += fd.powi(2);
    }
    let rel = (num / den.max(1e-20)).sqrt();
    eprintln!(
        "{name}: {} coords, relative error {rel:.2e}, |grad| {:.3e}",
        idxs.len(),
        den.sqrt()
    );
    assert!(
        den > 1e-12,
        "{name}: gradient is zero; the check would be vacuous"
    );
    assert!(
        rel <= tol,
        "{name}: relative gradient error {rel:e} > {tol:e}"
    );
    rel
}

const TOL: f64 = 2e-3;

#[test]
fn conv1d_batched_input_and_kernel() {
    let x = rand([3, 4, 9], 1);
    let w = rand([5, 4, 3], 2);
    let opts = || ConvOptions::new([1], [2], [2], 1);
    let wa = to_ad(&w);
    grad_check(
        "conv1d/input",
        &x,
        |x| weighted_sum(conv1d(x, wa.clone(), None, opts()), 9),
        None,
        TOL,
    );
    let xa = to_ad(&x);
    grad_check(
        "conv1d/kernel (batch 3)",
        &w,
        |w| weighted_sum(conv1d(xa.clone(), w, None, opts()), 9),
        None,
        TOL,
    );
}

#[test]
fn layer_norm_input_and_scale() {
    let x = rand([2, 5, 6], 3);
    let ln = || {
        let mut l = LayerNorm::<AD>::new(6, 1e-5, &device());
        l.weight = Param::from_tensor(to_ad(&rand([6], 4)));
        l.bias = Param::from_tensor(to_ad(&rand([6], 5)));
        l
    };
    let l = ln();
    grad_check(
        "layer_norm/input",
        &x,
        |x| weighted_sum(l.forward(x), 10),
        None,
        TOL,
    );
    let xa = to_ad(&x);
    grad_check(
        "layer_norm/weight",
        &rand([6], 4),
        |w| {
            let mut l = ln();
            l.weight = Param::from_tensor(w);
            weighted_sum(l.forward(xa.clone()), 10)
        },
        None,
        TOL,
    );
}

#[test]
fn softmax_plain_and_masked() {
    let x = rand([2, 4, 6], 6);
    grad_check(
        "softmax",
        &x,
        |x| weighted_sum(softmax(x, 2), 11),
        None,
        TOL,
    );
    let mask_data: Vec<bool> = (0..48).map(|k| k % 6 > 3 || k % 5 == 0).collect();
    let mask = Tensor::<AD, 3, Bool>::from_data(TensorData::new(mask_data, [2, 4, 6]), &device());
    grad_check(
        "masked softmax (-inf)",
        &x,
        |x| weighted_sum(softmax(x.mask_fill(mask.clone(), f32::NEG_INFINITY), 2), 11),
        None,
        TOL,
    );
    grad_check(
        "log_softmax",
        &x,
        |x| weighted_sum(log_softmax(x, 2), 12),
        None,
        TOL,
    );
}

#[test]
fn gather_and_sort_based_topk() {
    let x = rand([2, 6, 3], 7);
    let idx: Vec<i64> = (0..36).map(|k| ((k * 5) % 6) as i64).collect();
    let idx = Tensor::<AD, 3, Int>::from_data(TensorData::new(idx, [2, 6, 3]), &device());
    grad_check(
        "gather",
        &x,
        |x| weighted_sum(x.gather(1, idx.clone()), 13),
        None,
        TOL,
    );
    // Well-separated values so that ±STEP never reorders them.
    let vals: Vec<f32> = (0..2 * 40 * 3)
        .map(|k| ((k * 37) % 120) as f32 * 0.1 - 6.0)
        .collect();
    let v = Tensor::<B, 3>::from_data(TensorData::new(vals, [2, 40, 3]), &device());
    grad_check(
        "argsort top-k mean",
        &v,
        |v| weighted_sum(topk_mean_over_time(v, &[40, 23]).unwrap(), 14),
        None,
        TOL,
    );
}

#[test]
fn activations() {
    let x = rand([3, 7], 8);
    grad_check("sigmoid", &x, |x| weighted_sum(sigmoid(x), 15), None, TOL);
    grad_check("gelu (erf)", &x, |x| weighted_sum(gelu(x), 15), None, TOL);
    grad_check(
        "quick_gelu",
        &x,
        |x| weighted_sum(quick_gelu(x), 15),
        None,
        TOL,
    );
    grad_check(
        "exp / log",
        &x,
        |x| weighted_sum((x.exp() + 1.0).log(), 15),
        None,
        TOL,
    );
}

#[test]
fn matmul_batched() {
    let a = rand([2, 3, 4], 9);
    let b = rand([2, 4, 5], 10);
    let bb = to_ad(&b);
    grad_check(
        "matmul/lhs",
        &a,
        |a| weighted_sum(a.matmul(bb.clone()), 16),
        None,
        TOL,
    );
    let aa = to_ad(&a);
    grad_check(
        "matmul/rhs",
        &b,
        |b| weighted_sum(aa.clone().matmul(b), 16),
        None,
        TOL,
    );
}

#[test]
fn bce_and_cross_entropy_losses() {
    let p: Tensor<B, 1> = sigmoid(rand([6], 11));
    let y = to_ad(&Tensor::<B, 1>::from_data(
        TensorData::new(vec![1f32, 0., 1., 0., 0., 1.], [6]),
        &device(),
    ));
    grad_check(
        "binary_cross_entropy",
        &p,
        |p| binary_cross_entropy(p, y.clone()),
        None,
        TOL,
    );

    // CLAS2 / CLASM / focal through the top-k selection, w.r.t. the logits (well separated).
    let vals: Vec<f32> = (0..2 * 32)
        .map(|k| ((k * 29) % 64) as f32 * 0.09 - 3.0)
        .collect();
    let l1 = Tensor::<B, 3>::from_data(TensorData::new(vals, [2, 32, 1]), &device());
    let labels = to_ad(&Tensor::<B, 2>::from_data(
        TensorData::new(vec![1f32, 0., 0., 0., 0., 1., 1., 0.], [2, 4]),
        &device(),
    ));
    grad_check(
        "clas2",
        &l1,
        |l| clas2(l, labels.clone(), &[32, 20]).unwrap(),
        None,
        TOL,
    );
    let vals: Vec<f32> = (0..2 * 32 * 4)
        .map(|k| ((k * 53) % 256) as f32 * 0.03 - 4.0)
        .collect();
    let l2 = Tensor::<B, 3>::from_data(TensorData::new(vals, [2, 32, 4]), &device());
    grad_check(
        "clasm (log_softmax CE)",
        &l2,
        |l| clasm(l, labels.clone(), &[32, 20]).unwrap(),
        None,
        TOL,
    );
    let alpha = to_ad(&Tensor::<B, 1>::from_data(
        TensorData::new(vec![0.2f32, 0.3, 0.25, 0.4], [4]),
        &device(),
    ));
    grad_check(
        "clasm_focal/logits",
        &l2,
        |l| clasm_focal(l, labels.clone(), &[32, 20], alpha.clone(), 2.0).unwrap(),
        None,
        TOL,
    );
    let l2a = to_ad(&l2);
    grad_check(
        "clasm_focal/alpha",
        &Tensor::<B, 1>::from_data(
            TensorData::new(vec![0.2f32, 0.3, 0.25, 0.4], [4]),
            &device(),
        ),
        |a| clasm_focal(l2a.clone(), labels.clone(), &[32, 20], a, 2.0).unwrap(),
        None,
        TOL,
    );
}

#[test]
fn weight_norm_conv() {
    let x = rand([2, 10, 4], 12); // [B, T, in]
    let v = rand([4, 4, 2], 13);
    let g = rand([4, 1, 1], 14);
    let xa = to_ad(&x);
    let ga = to_ad(&g);
    let conv = |v: Tensor<AD, 3>, g: Tensor<AD, 3>| WeightNormConv1d {
        weight_g: Param::from_tensor(g),
        weight_v: Param::from_tensor(v),
        bias: Param::from_tensor(Tensor::zeros([4], &device())),
        dilation: 2,
    };
    grad_check(
        "weight_norm/v",
        &v,
        |v| weighted_sum(conv(v, ga.clone()).forward(xa.clone()), 17),
        None,
        TOL,
    );
    let va = to_ad(&v);
    grad_check(
        "weight_norm/g",
        &g,
        |g| weighted_sum(conv(va.clone(), g).forward(xa.clone()), 17),
        None,
        TOL,
    );
    grad_check(
        "weight_norm/input",
        &x,
        |x| weighted_sum(conv(va.clone(), ga.clone()).forward(x), 17),
        None,
        TOL,
    );
}

/// End to end: the teacher's total loss w.r.t. the learnable prompt table, through the frozen CLIP text tower.
#[test]
fn teacher_total_loss_wrt_prompt_table() {
    let name = "avadclip_teacher";
    let cfg = fixture_config(name);
    let sd = fixture_state_dict(name);
    let (mut model, _) = AvadClip::<AD>::from_weights(&cfg, &sd, &device()).unwrap();
    for b in &mut model.temporalconvnet.as_mut().unwrap().network {
        b.dropout = 0.0; // deterministic for finite differences
    }
    let model = model.freeze_clip();
    let io = Io::load(name);
    let lengths = io.lengths();
    let visual: Tensor<AD, 3> = io.tensor_on::<AD, 3>("visual", &device());
    let audio: Tensor<AD, 3> = io.tensor_on::<AD, 3>("audio", &device());
    let labels: Tensor<AD, 2> = io.tensor_on::<AD, 2>("labels", &device());
    let ids = io.token_ids();
    let table0: Tensor<B, 2> = model.text_prompt_embeddings.val().inner();
    // The prompt table is N(0, 0.01)-sized, so a 1e-2 step is not small against it: use 5e-4 here.
    grad_check_step(
        "teacher total loss / text_prompt_embeddings",
        &table0,
        |tab| {
            let mut m = model.clone();
            m.text_prompt_embeddings = Param::from_tensor(tab);
            let text = m.class_text(&ids).unwrap();
            let out = m
                .forward(visual.clone(), Some(audio.clone()), &lengths, &text)
                .unwrap();
            // Scale up: the raw prompt gradient is small relative to f32 rounding of the loss.
            compute_losses(
                &out,
                labels.clone(),
                &lengths,
                &LossConfig::avadclip_teacher(),
                None,
            )
            .unwrap()
            .total
                * 100.0
        },
        Some((24, 24 * cfg.embed_dim)),
        1e-2,
        5e-4,
    );
}
