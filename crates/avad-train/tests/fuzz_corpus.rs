//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/train.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/train.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn train_toml_corpus() {
    replay::replay("train_toml", harness::train_toml);
}
