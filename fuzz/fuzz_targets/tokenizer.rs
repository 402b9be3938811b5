//! cargo-fuzz target `tokenizer`: runs `fuzz/harness/clip.rs::tokenizer_text` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/clip.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::tokenizer_text(data));
