//! cargo-fuzz target `checkpoint_json`: runs `fuzz/harness/infer.rs::checkpoint_json` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/infer.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::checkpoint_json(data));
