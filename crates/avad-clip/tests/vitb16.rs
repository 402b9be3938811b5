//! ViT-B/16-size parity (random weights, real config, real vocabulary). The weights (~600 MB) are not committed:
//!
//! ```sh
//! /work/venv/bin/python tools/make_clip_fixtures.py vitb16 --out target/clip-vitb16
//! AVAD_CLIP_VITB16_DIR=target/clip-vitb16 cargo test -p avad-clip --release --test vitb16 -- --ignored
//! ```
//! (the directory defaults to `<workspace>/target/clip-vitb16`).

use std::path::PathBuf;

use avad_clip::{ClipModel, Tokenizer, CONTEXT_LENGTH};
use avad_core::testing::max_abs_diff;
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::Value;

type B = burn_flex::Flex;

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        _ => panic!("not numeric"),
    }
}

#[test]
#[ignore = "needs target/clip-vitb16 from tools/make_clip_fixtures.py vitb16 (~600 MB)"]
fn vitb16_parity() {
    let dir = std::env::var("AVAD_CLIP_VITB16_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/clip-vitb16")
        });
    let dev = Default::default();
    let model = ClipModel::<B>::load(&dir, &dev).unwrap();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();

    let px = Tensor::<B, 4>::from_data(
        TensorData::new(floats(&r["pixels"]), [2, 3, 224, 224]),
        &dev,
    );
    let got: Vec<f32> = model
        .encode_image(px)
        .unwrap()
        .into_data()
        .iter::<f32>()
        .collect();
    let want = floats(&r["image_embeds"]);
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().map(|x| x.abs()).fold(0.0, f32::max);
    eprintln!("image: max abs err {err:e}, max |ref| {scale}");
    assert!(err <= 1e-4, "image embeds: {err}");

    // Token ids from our tokenizer must equal the ones the reference used.
    let ids: Vec<Vec<i64>> = r["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect();
    let tok = Tokenizer::new();
    let texts = r["texts"]
        .as_array()
        .expect("reference.json lists the texts");
    assert_eq!(texts.len(), ids.len());
    for (text, want) in texts.iter().zip(&ids) {
        let mut got: Vec<i64> = tok
            .tokenize_ids(text.as_str().unwrap(), CONTEXT_LENGTH)
            .into_iter()
            .map(i64::from)
            .collect();
        got.resize(CONTEXT_LENGTH, 0);
        assert_eq!(&got, want, "token ids of {text}");
    }
    let flat: Vec<i64> = ids.concat();
    let t = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [ids.len(), 77]), &dev);
    let got: Vec<f32> = model
        .encode_text_ids(t)
        .unwrap()
        .into_data()
        .iter::<f32>()
        .collect();
    let want = floats(&r["text_embeds"]);
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().map(|x| x.abs()).fold(0.0, f32::max);
    eprintln!("text: max abs err {err:e}, max |ref| {scale}");
    assert!(err <= 1e-4, "text embeds: {err}");
    assert_eq!(tok.vocab_size(), model.text.vocab_size());
}
