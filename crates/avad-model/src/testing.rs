//! Helpers for the tests of this crate and of the crates above it that read `fixtures/model`.

use avad_nn::WeightMap;
use burn::tensor::TensorData;

use crate::text_tower::CLIP_PREFIX;

/// Rebuilds the full CLIP token table `clipmodel.token_embedding.weight` of a `fixtures/model` state dict from the
/// rows `tools/make_model_fixtures.py` stores for the class-name tokens (`fixture.token_embedding.{ids,rows,
/// vocab_size}`); the other rows are zero (the model never reads them). Panics on a dict without those keys.
pub fn expand_token_table(w: &mut WeightMap) {
    let ids = w.f32_values("fixture.token_embedding.ids").expect("ids");
    let rows = w.f32_values("fixture.token_embedding.rows").expect("rows");
    let width = w.shape("fixture.token_embedding.rows").expect("rows")[1];
    let vocab = w
        .f32_values("fixture.token_embedding.vocab_size")
        .expect("vocab")[0] as usize;
    for k in ["ids", "rows", "vocab_size"] {
        w.remove(&format!("fixture.token_embedding.{k}"));
    }
    let mut table = vec![0f32; vocab * width];
    for (r, &id) in ids.iter().enumerate() {
        let id = id as usize;
        table[id * width..(id + 1) * width].copy_from_slice(&rows[r * width..(r + 1) * width]);
    }
    w.insert(
        format!("{CLIP_PREFIX}token_embedding.weight"),
        TensorData::new(table, [vocab, width]),
    );
}
