//! Replays a fuzz target's committed inputs on the stable toolchain: every seed in `fuzz/corpus/<target>/` and every
//! input that ever crashed in `fuzz/artifacts-kept/<target>/`, through the same harness function the fuzzer ran.
//! Included (`#[path]`) by `crates/*/tests/fuzz_corpus.rs`.

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The `fuzz/` folder, from the including crate's manifest dir (`crates/<crate>`).
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs `run` on every seed and kept crash of `target`; fails naming every input that panicked. Returns the number
/// of inputs replayed.
pub fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut inputs = Vec::new();
    for (sub, required) in [("corpus", true), ("artifacts-kept", false)] {
        let dir = fuzz_dir().join(sub).join(target);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if !required => {
                let _ = e;
                continue;
            }
            Err(e) => panic!("{}: {e} (run tools/make_fuzz_corpus.py)", dir.display()),
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        inputs.extend(files);
    }
    assert!(!inputs.is_empty(), "no seeds for fuzz target {target}");
    let mut failures = Vec::new();
    for p in &inputs {
        let bytes = std::fs::read(p).expect("read a corpus file");
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run(&bytes))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz target {target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
    inputs.len()
}
