//! Fuzz harness of avad-train's TOML configuration reader. Shared by the cargo-fuzz target and
//! `crates/avad-train/tests/fuzz_corpus.rs` (see `core.rs` for the rules).

#![allow(dead_code)]

use std::path::Path;

use avad_train::{TrainConfig, PRESET_NAMES};

/// The path the harness pretends each input was read from (never touched on disk).
pub const FUZZ_PATH: &str = "/nonexistent/avad-fuzz/input";

/// Training TOML: the first byte picks a preset, the rest is the `--config` file: `merge_toml_bytes` (what
/// `merge_toml_file` runs), then `validate` (what `avad train` runs before building anything) and `to_toml`.
pub fn train_toml(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let preset = PRESET_NAMES[first as usize % PRESET_NAMES.len()];
    let base = TrainConfig::preset(preset).expect("built-in preset");
    match base.merge_toml_bytes(rest, Path::new(FUZZ_PATH)) {
        Ok(cfg) => {
            if cfg.validate().is_ok() {
                let _ = cfg.to_toml();
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(FUZZ_PATH),
                "error does not name the file: {msg}"
            );
        }
    }
}
