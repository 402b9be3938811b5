//! Replays the fuzz seeds and every input that ever crashed (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`)
//! through the fuzz harness `fuzz/harness/core.rs` on the stable toolchain: no panic, and every error names the file
//! (docs/hostile-input.md, "Fuzzing").

#[path = "../../../fuzz/harness/core.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

#[test]
fn npy_corpus() {
    replay::replay("npy", harness::npy);
}

#[test]
fn list_csv_corpus() {
    replay::replay("list_csv", harness::list_csv);
}

#[test]
fn annotations_corpus() {
    replay::replay("annotations", harness::annotations);
}
