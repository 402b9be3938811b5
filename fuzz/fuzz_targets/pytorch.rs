//! cargo-fuzz target `pytorch`: runs `fuzz/harness/nn.rs::pytorch` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/nn.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::pytorch(data));
