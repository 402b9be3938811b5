//! Fuzz harness of avad-infer's JSON readers: checkpoint and bundle files. Shared by the cargo-fuzz targets and
//! `crates/avad-infer/tests/fuzz_corpus.rs` (see `core.rs` for the rules).

#![allow(dead_code)]

use std::path::Path;

use avad_infer::{BundleSpec, CheckpointMeta};

/// The path the harness pretends each input was read from (never touched on disk).
pub const FUZZ_PATH: &str = "/nonexistent/avad-fuzz/input";

fn names_path(e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    assert!(
        msg.contains(FUZZ_PATH),
        "error does not name the file: {msg}"
    );
}

/// Checkpoint JSON: `CheckpointMeta::parse` (what `CheckpointMeta::read` / `Checkpoint::open` run), then the
/// student input it implies.
pub fn checkpoint_json(data: &[u8]) {
    let r: avad_infer::Result<CheckpointMeta> = CheckpointMeta::parse(data, Path::new(FUZZ_PATH));
    match r {
        Ok(meta) => {
            let _ = meta.student_input();
        }
        Err(e) => names_path(&e),
    }
}

/// Bundle JSON: `BundleSpec::parse` (what `BundleSpec::read` runs) and the bundle sniffing of `--model`.
pub fn bundle_json(data: &[u8]) {
    let _ = BundleSpec::looks_like_bundle(data);
    match BundleSpec::parse(data, Path::new(FUZZ_PATH)) {
        Ok(spec) => assert!(
            spec.teacher.is_some() || spec.visual_student.is_some() || spec.audio_student.is_some()
        ),
        Err(e) => names_path(&e),
    }
}
