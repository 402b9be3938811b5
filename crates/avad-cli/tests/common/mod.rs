//! Helpers shared by the end-to-end tests: running the `avad` binary and finding the repository's fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command that runs the `avad` binary under test.
pub fn avad_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avad"))
}

/// Runs `avad ARGS` and returns its output.
pub fn avad(args: &[&str]) -> Output {
    avad_command().args(args).output().expect("run avad")
}

/// The repository root (`fixtures/` is below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `avad ARGS` and returns its output; fails the test, showing its stderr, unless it succeeds.
pub fn avad_ok(args: &[&str]) -> Output {
    let out = avad(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
