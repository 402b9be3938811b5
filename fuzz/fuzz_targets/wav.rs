//! cargo-fuzz target `wav`: runs `fuzz/harness/wav2clip.rs::wav` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/wav2clip.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::wav(data));
