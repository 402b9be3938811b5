//! The adaptive fusion gate exposed by `ModelOutput::fusion_gate`: equal to `sigmoid(gate_proj(concat[v, a]))`
//! computed here in plain f32 from the gate weights, with `X_av = v + fusion_residual`; absent for VadCLIP and the
//! ablation fusions.

mod common;

use avad_model::fusion::{Fusion, FusionKind};
use avad_model::{AvadClip, ModelConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;

fn vec_of<const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec().unwrap()
}

fn load(name: &str) -> AvadClip<B> {
    let cfg = fixture_config(name);
    AvadClip::<B>::from_weights(&cfg, &fixture_state_dict(name), &device())
        .expect("import")
        .0
}

#[test]
fn fusion_gate_is_sigmoid_of_gate_proj_on_concat_v_a() {
    let io = Io::load("avadclip_teacher");
    let model = load("avadclip_teacher");
    let text = model.class_text(&io.token_ids()).unwrap();
    // a small input: the first video of the fixture batch, valid length 97
    let visual: Tensor<B, 3> = io.tensor::<3>("visual").narrow(0, 0, 1);
    let audio: Tensor<B, 3> = io.tensor::<3>("audio").narrow(0, 0, 1);
    let lengths = [io.lengths()[0]];
    let out = model.forward(visual, Some(audio), &lengths, &text).unwrap();
    let gate = out.fusion_gate.as_ref().expect("teacher has a gate");
    let [b, t, d] = gate.dims();
    let da = out.audio_features.as_ref().unwrap().dims()[2];
    assert_eq!([b, t], [1, 256]);
    // independent computation: z = [v, a] per snippet, W = sigmoid(weight · z + bias)
    let v = vec_of(&out.visual_features);
    let a = vec_of(out.audio_features.as_ref().unwrap());
    let gp = model.fusion.as_ref().unwrap().gate_proj.as_ref().unwrap();
    let w = vec_of(&gp.weight.val()); // [D, D + Da]
    let bias = vec_of(&gp.bias.as_ref().unwrap().val()); // [D]
    let got = vec_of(gate);
    let mut max_err = 0f32;
    for s in 0..t {
        let z: Vec<f32> = v[s * d..(s + 1) * d]
            .iter()
            .chain(&a[s * da..(s + 1) * da])
            .copied()
            .collect();
        for o in 0..d {
            let row = &w[o * (d + da)..(o + 1) * (d + da)];
            let pre: f32 = bias[o] + row.iter().zip(&z).map(|(x, y)| x * y).sum::<f32>();
            let want = 1.0 / (1.0 + (-pre).exp());
            max_err = max_err.max((got[s * d + o] - want).abs());
        }
    }
    assert!(max_err < 1e-5, "gate max abs err {max_err}");
    assert!(got.iter().all(|&g| g > 0.0 && g < 1.0));
    assert!(
        got.iter().any(|&g| (g - got[0]).abs() > 1e-3),
        "a constant gate would not test anything"
    );
    // X_av = v + W ⊙ R, with W ⊙ R reported as fusion_residual
    let res = vec_of(out.fusion_residual.as_ref().expect("teacher residual"));
    let x_av = vec_of(&out.features);
    let err = x_av
        .iter()
        .zip(v.iter().zip(&res))
        .map(|(x, (v, r))| (x - (v + r)).abs())
        .fold(0f32, f32::max);
    assert!(err < 1e-5, "X_av − (v + W⊙R) = {err}");
}

#[test]
fn models_without_adaptive_fusion_have_no_gate() {
    let io = Io::load("vadclip");
    let model = load("vadclip");
    let text = model.class_text(&io.token_ids()).unwrap();
    let visual: Tensor<B, 3> = io.tensor::<3>("visual").narrow(0, 0, 1);
    let out = model
        .forward(visual, None, &[io.lengths()[0]], &text)
        .unwrap();
    assert!(out.fusion_gate.is_none() && out.fusion_residual.is_none());
    // the ablation fusions have no gate either; the adaptive one does
    let dev = device();
    let v: Tensor<B, 3> = Tensor::random([1, 4, 8], Distribution::Normal(0.0, 1.0), &dev);
    let a: Tensor<B, 3> = Tensor::random([1, 4, 8], Distribution::Normal(0.0, 1.0), &dev);
    for kind in [
        FusionKind::Add,
        FusionKind::ConcatLinear,
        FusionKind::CrossAttention,
    ] {
        let f = Fusion::<B>::new(kind, 8, 8, avad_nn::init::Init::Random, &dev)
            .unwrap()
            .unwrap();
        let o = f.forward_with_gate(v.clone(), a.clone());
        assert!(o.gate.is_none() && o.gated_residual.is_none(), "{kind:?}");
        assert_eq!(vec_of(&o.fused), vec_of(&f.forward(v.clone(), a.clone())));
    }
    let f = Fusion::<B>::new(
        FusionKind::Adaptive,
        8,
        8,
        avad_nn::init::Init::Random,
        &dev,
    )
    .unwrap()
    .unwrap();
    assert_eq!(f.forward_with_gate(v, a).gate.unwrap().dims(), [1, 4, 8]);
    assert!(ModelConfig::vadclip_xd().fusion == FusionKind::None);
}
