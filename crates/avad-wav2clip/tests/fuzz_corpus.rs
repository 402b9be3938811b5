//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/wav2clip.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/wav2clip.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn wav_corpus() {
    replay::replay("wav", harness::wav);
}
