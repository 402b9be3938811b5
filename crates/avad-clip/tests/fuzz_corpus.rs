//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/clip.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/clip.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn tokenizer_corpus() {
    replay::replay("tokenizer", harness::tokenizer_text);
}
