//! cargo-fuzz target `bundle_json`: runs `fuzz/harness/infer.rs::bundle_json` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/infer.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::bundle_json(data));
