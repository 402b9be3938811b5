//! cargo-fuzz target `list_csv`: runs `fuzz/harness/core.rs::list_csv` on each input (docs/hostile-input.md, "Fuzzing").
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::list_csv(data));
