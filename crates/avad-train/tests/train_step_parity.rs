//! One full training step of VadCLIP from shared weights matches PyTorch (`tools/make_train_step_fixture.py`):
//! official forward + losses + backward + AdamW, parameters after the step ≤ 1e-5 apart, for the official
//! lr 1e-5 and for a near-linear setting (lr 1, eps 1) whose update is sensitive to the gradient values.

mod common;

use std::path::Path;

use avad_model::{compute_losses, AvadClip, LossConfig, ModelConfig};
use avad_nn::WeightMap;
use avad_train::{AdamW, AdamWConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;

type B = burn::backend::Autodiff<burn_flex::Flex>;

fn load(p: &str) -> WeightMap {
    WeightMap::load_safetensors(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(p),
    )
    .unwrap()
}

/// `fixtures/model/vadclip.safetensors` with the full CLIP token table rebuilt from its stored rows.
fn official_weights() -> WeightMap {
    let mut sd = load("model/vadclip.safetensors");
    avad_model::testing::expand_token_table(&mut sd);
    sd
}

fn config() -> ModelConfig {
    // fixtures/model/config.json: D = 32, vadclip 2 layers / 2 heads / window 16, CLIP text 2 layers / 2 heads.
    let mut c = ModelConfig::vadclip_xd();
    c.embed_dim = 32;
    c.visual_width = 32;
    c.visual_layers = 2;
    c.visual_head = 2;
    c.attn_window = 16;
    c.clip_text.num_hidden_layers = 2;
    c.clip_text.num_attention_heads = 2;
    avad_model::text_tower::set_text_width(&mut c.clip_text, 32);
    c
}

fn run(setting: &str, lr: f64, adam: AdamWConfig) {
    let dev = Default::default();
    let io = load("model/vadclip_io.safetensors");
    let want = load("train/vadclip_step.safetensors");
    let (model, report) =
        AvadClip::<B>::from_weights(&config(), &official_weights(), &dev).unwrap();
    assert!(report.unused_keys.is_empty(), "{:?}", report.unused_keys);
    let model = model.freeze_clip();
    let names = avad_train::text::class_names(avad_train::LabelSet::Xd);
    let text = model
        .class_text(&avad_infer::class_token_ids(&names))
        .unwrap();
    let visual: Tensor<B, 3> =
        Tensor::from_data(io.get("visual").unwrap().clone().convert::<f32>(), &dev);
    let labels: Tensor<B, 2> =
        Tensor::from_data(io.get("labels").unwrap().clone().convert::<f32>(), &dev);
    let lengths = common::lengths(&io);
    let out = model.forward(visual, None, &lengths, &text).unwrap();
    let losses = compute_losses(&out, labels, &lengths, &LossConfig::vadclip_xd(), None).unwrap();
    let total: f32 = losses.total.clone().into_scalar();
    let want_total = io.get("loss_total").unwrap().to_vec::<f32>().unwrap()[0];
    assert!(
        (total - want_total).abs() <= 1e-5,
        "loss {total} vs {want_total}"
    );
    let grads = GradientsParams::from_grads(losses.total.backward(), &model);
    let mut opt = AdamW::<burn_flex::Flex>::new(adam);
    let before = model.to_weights();
    let model = opt.step(lr, model, grads);
    let after = model.to_weights();
    let prefix = format!("{setting}.");
    let (mut n, mut worst, mut moved) = (0, 0f32, 0f32);
    for (k, w) in want.iter() {
        let Some(key) = k.strip_prefix(&prefix) else {
            continue;
        };
        let got = after
            .get(key)
            .unwrap_or_else(|| panic!("avad has no `{key}`"))
            .to_vec::<f32>()
            .unwrap();
        let old = before.get(key).unwrap().to_vec::<f32>().unwrap();
        let w = w.to_vec::<f32>().unwrap();
        assert_eq!(got.len(), w.len(), "{key}");
        for ((g, e), o) in got.iter().zip(&w).zip(&old) {
            worst = worst.max((g - e).abs());
            moved = moved.max((e - o).abs());
        }
        n += 1;
    }
    assert!(n >= 40, "only {n} parameters compared");
    eprintln!(
        "{setting}: {n} parameters, max |Δ| vs PyTorch {worst:e}, largest PyTorch update {moved:e}"
    );
    assert!(
        worst <= 1e-5,
        "{setting}: parameters differ from PyTorch by {worst:e}"
    );
    assert!(
        moved > 5e-6,
        "{setting}: the step must move parameters ({moved:e})"
    );
    assert_eq!(
        opt.num_tracked(),
        46,
        "46 parameters receive gradients in PyTorch (disAdj.sigma and CLIP do not)"
    );
}

#[test]
fn vadclip_step_matches_pytorch() {
    run("official", 1e-5, AdamWConfig::default());
    run(
        "linear",
        1.0,
        AdamWConfig {
            eps: 1.0,
            ..AdamWConfig::default()
        },
    );
}
