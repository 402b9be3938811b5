//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/infer.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/infer.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn checkpoint_json_corpus() {
    replay::replay("checkpoint_json", harness::checkpoint_json);
}

#[test]
fn bundle_json_corpus() {
    replay::replay("bundle_json", harness::bundle_json);
}
