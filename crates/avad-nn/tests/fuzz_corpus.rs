//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/nn.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/nn.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn safetensors_corpus() {
    replay::replay("safetensors", harness::safetensors);
}

#[test]
fn pytorch_corpus() {
    replay::replay("pytorch", harness::pytorch);
}
