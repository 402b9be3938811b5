//! cargo-fuzz target `safetensors`: runs `fuzz/harness/nn.rs::safetensors` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/nn.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::safetensors(data));
