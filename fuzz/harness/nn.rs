//! Fuzz harness of avad-nn's weight readers: safetensors and PyTorch `.pt` (zip and legacy formats). Shared by the
//! cargo-fuzz targets and `crates/avad-nn/tests/fuzz_corpus.rs` (see `core.rs` for the rules).

#![allow(dead_code)]

use std::path::Path;

use avad_nn::WeightMap;

/// The path the harness pretends each input was read from (never touched on disk).
pub const FUZZ_PATH: &str = "/nonexistent/avad-fuzz/input";

fn names_path(e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    assert!(
        msg.contains(FUZZ_PATH),
        "error does not name the file: {msg}"
    );
}

/// Every tensor of a loaded map decodes to f32 (the one decoder the models use) with as many values as its shape.
fn decode_all(m: &WeightMap) {
    for key in m.keys() {
        let shape = m.shape(key).expect("listed key");
        match m.f32_values(key) {
            Ok(v) => assert_eq!(v.len(), shape.iter().product::<usize>(), "`{key}`"),
            Err(e) => panic!("`{key}` of shape {shape:?} was accepted but does not decode: {e}"),
        }
    }
}

/// safetensors: `WeightMap::from_safetensors_bytes` (what `load_safetensors` runs), then every tensor decoded.
pub fn safetensors(data: &[u8]) {
    match WeightMap::from_safetensors_bytes(data, Path::new(FUZZ_PATH)) {
        Ok(m) => decode_all(&m),
        Err(e) => names_path(&e),
    }
}

/// PyTorch `.pt`: `WeightMap::from_bytes` (what `WeightMap::load` runs: safetensors by content, else the PyTorch
/// reader), then every tensor decoded.
pub fn pytorch(data: &[u8]) {
    match WeightMap::from_bytes(data, Path::new(FUZZ_PATH)) {
        Ok(m) => decode_all(&m),
        Err(e) => names_path(&e),
    }
}
