//! The fast CPU image tower (`FastVisionEncoder`, avad-kernels GEMM) against the burn reference
//! (`ClipVisionModel::forward`): random tiny and ViT-B/16-size models and the committed `fixtures/clip/tiny_hf`.

use std::path::Path;
use std::time::Instant;

use avad_clip::testing::{random_vision_model, tiny_config, vit_b16_config};
use avad_clip::{ClipModel, ClipVisionModel, FastVisionEncoder, FastVisionOptions};
use avad_core::testing::max_abs_diff;
use avad_kernels::KernelChoice;
use burn::tensor::{Tensor, TensorData};

type B = burn_flex::Flex;

/// Seeded pixels in about [-2, 2] (the range of CLIP-normalised images).
fn pixels(n: usize, seed: u64) -> Vec<f32> {
    avad_core::testing::uniform(n, seed, -2.0, 2.0)
}

fn reference(model: &ClipVisionModel<B>, px: &[f32], batch: usize) -> Vec<f32> {
    let s = model.image_size;
    let t = Tensor::<B, 4>::from_data(
        TensorData::new(px.to_vec(), [batch, model.num_channels, s, s]),
        &Default::default(),
    );
    model
        .forward(t)
        .unwrap()
        .into_data()
        .iter::<f32>()
        .collect()
}

/// Max abs error of the fast path against the reference, for `batch` seeded images.
fn compare(model: &ClipVisionModel<B>, batch: usize, opts: FastVisionOptions, what: &str) -> f32 {
    let fast = FastVisionEncoder::new(model, opts).unwrap();
    let (c, s) = fast.input_shape();
    let px = pixels(batch * c * s * s, batch as u64 + 7);
    let want = reference(model, &px, batch);
    let got = fast.encode(&px, batch);
    assert_eq!(got.len(), batch * fast.output_dim());
    assert_eq!(got.len(), want.len());
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().map(|v| v.abs()).fold(0.0, f32::max);
    eprintln!("{what}: batch {batch}, max abs err {err:e} (max |ref| {scale})");
    assert!(err <= 1e-4, "{what}: max abs err {err}");
    err
}

fn portable() -> FastVisionOptions {
    FastVisionOptions {
        kernel: KernelChoice::Portable,
        ..Default::default()
    }
}

#[test]
fn tiny_random_model_matches_burn() {
    let model = random_vision_model::<B>(&tiny_config(), 3, &Default::default()).unwrap();
    for batch in [1, 2, 3, 5] {
        compare(&model, batch, FastVisionOptions::default(), "tiny auto");
        compare(&model, batch, portable(), "tiny portable");
    }
}

#[test]
fn two_layer_tiny_model_matches_burn() {
    // More than one layer exercises the full-sequence layers before the class-token-only last layer.
    let mut cfg = tiny_config();
    cfg.vision_config.num_hidden_layers = 3;
    cfg.vision_config.num_attention_heads = 4;
    let model = random_vision_model::<B>(&cfg, 11, &Default::default()).unwrap();
    compare(&model, 3, FastVisionOptions::default(), "tiny 3-layer auto");
    compare(&model, 3, portable(), "tiny 3-layer portable");
}

#[test]
fn output_does_not_depend_on_threads() {
    let mut cfg = tiny_config();
    cfg.vision_config.num_hidden_layers = 2;
    let model = random_vision_model::<B>(&cfg, 5, &Default::default()).unwrap();
    let mut fast = FastVisionEncoder::new(&model, FastVisionOptions::default()).unwrap();
    let (c, s) = fast.input_shape();
    let px = pixels(4 * c * s * s, 1);
    let all = fast.encode(&px, 4);
    fast.set_options(FastVisionOptions {
        threads: 1,
        ..Default::default()
    });
    assert_eq!(fast.encode(&px, 4), all);
    assert!(fast.encode(&[], 0).is_empty());
}

#[test]
fn vit_b16_size_model_matches_burn() {
    let t0 = Instant::now();
    let model = random_vision_model::<B>(&vit_b16_config(), 1, &Default::default()).unwrap();
    let t1 = Instant::now();
    let err = compare(&model, 2, FastVisionOptions::default(), "ViT-B/16 auto");
    eprintln!(
        "ViT-B/16: model {:.1} s, pack + reference + fast {:.1} s, err {err:e}",
        (t1 - t0).as_secs_f32(),
        t1.elapsed().as_secs_f32()
    );
}

#[test]
fn tiny_hf_fixture_matches_burn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip/tiny_hf");
    let model = ClipModel::<B>::load(dir, &Default::default()).unwrap();
    compare(
        &model.vision,
        2,
        FastVisionOptions::default(),
        "tiny_hf auto",
    );
    compare(&model.vision, 2, portable(), "tiny_hf portable");
}
