//! `import_official` on the model helper's official-PyTorch fixtures (`tools/make_model_fixtures.py`): the
//! imported avad checkpoint reproduces upstream's logits1/logits2 and text features (≤ 1e-4).

mod common;

use std::path::{Path, PathBuf};

use avad_infer::Predictor;
use avad_nn::WeightMap;
use avad_train::{import_official, ImportKind, ImportOptions};
use burn::prelude::*;

type B = burn_flex::Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/model")
        .join(name)
}

fn t<const D: usize>(sd: &WeightMap, name: &str) -> Tensor<B, D> {
    Tensor::from_data(
        sd.get(name).unwrap().clone().convert::<f32>(),
        &Default::default(),
    )
}

fn max_diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    let v = |t: Tensor<B, D>| t.into_data().to_vec::<f32>().unwrap();
    avad_core::testing::max_abs_diff(&v(a), &v(b))
}

/// The fixture state dict with the full CLIP token table rebuilt from the stored rows (the fixture keeps only the
/// rows of the class-name tokens), written to `dir` as an "official" checkpoint file.
fn official_file(dir: &Path, weights: &str) -> PathBuf {
    let mut sd = WeightMap::load(fixture(weights)).unwrap();
    avad_model::testing::expand_token_table(&mut sd);
    let path = dir.join("official.safetensors");
    sd.save_safetensors(&path).unwrap();
    path
}

fn check(kind: ImportKind, weights: &str, io: &str, visual_head: usize, attn_window: usize) {
    let src = tempfile::tempdir().unwrap();
    let official = official_file(src.path(), weights);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ImportOptions::new(kind);
    // The fixtures are shrunk (width 32, 2 CLIP heads); the head counts and window are not in a state dict.
    opts.clip_heads = Some(2);
    opts.visual_head = Some(visual_head);
    opts.attn_window = Some(attn_window);
    let s = import_official::<B>(&official, dir.path(), &opts, &Default::default()).unwrap();
    assert!(s.unused_keys.is_empty(), "{:?}", s.unused_keys);
    let p = Predictor::<B>::from_checkpoint(dir.path(), &Default::default()).unwrap();
    let io = WeightMap::load_safetensors(fixture(io)).unwrap();
    let dt = max_diff(p.text_features.clone(), t(&io, "text_features"));
    assert!(dt <= 1e-4, "text features differ by {dt:e}");
    let lengths = common::lengths(&io);
    let audio = io.get("audio").map(|_| t::<3>(&io, "audio"));
    let out = p
        .model
        .forward_with_text_features(t(&io, "visual"), audio, &lengths, p.text_features.clone())
        .unwrap();
    let d1 = max_diff(out.logits1, t(&io, "logits1"));
    let d2 = max_diff(out.logits2, t(&io, "logits2"));
    assert!(d1 <= 1e-4 && d2 <= 1e-4, "logits differ: {d1:e}, {d2:e}");
}

#[test]
fn imported_vadclip_matches_pytorch() {
    // fixtures/model/config.json: vadclip 2 layers, 2 heads, window 16.
    check(
        ImportKind::Vadclip,
        "vadclip.safetensors",
        "vadclip_io.safetensors",
        2,
        16,
    );
}

#[test]
fn imported_teacher_matches_pytorch() {
    check(
        ImportKind::AvadclipTeacher,
        "avadclip_teacher.safetensors",
        "avadclip_teacher_io.safetensors",
        1,
        4,
    );
}

#[test]
fn wrong_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let official = official_file(dir.path(), "vadclip.safetensors");
    let e = import_official::<B>(
        &official,
        dir.path(),
        &ImportOptions::new(ImportKind::AvadclipTeacher),
        &Default::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no audio TCN"), "{e}");
}
