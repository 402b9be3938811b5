//! cargo-fuzz target `train_toml`: runs `fuzz/harness/train.rs::train_toml` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/train.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::train_toml(data));
