//! cargo-fuzz target `tokenizer`: runs `fuzz/harness/clip.rs::tokenizer_text` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/clip.rs"]
mod harness;

// The tokenizer is built once before fuzzing (`warm_up`), not inside the first (timed) input.
libfuzzer_sys::fuzz_target!(init: harness::warm_up(), |data: &[u8]| harness::tokenizer_text(data));
