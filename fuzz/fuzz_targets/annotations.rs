//! cargo-fuzz target `annotations`: runs `fuzz/harness/core.rs::annotations` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::annotations(data));
