//! cargo-fuzz target `media_snippets`: runs `fuzz/harness/media.rs::media_snippets` on each input
//! (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/media.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::media_snippets(data));
