//! Shared helpers of the avad-media integration tests: fixture paths and the reference files of
//! `tools/make_media_fixtures.sh`.
#![allow(dead_code)]

use std::path::PathBuf;

/// `fixtures/media/` of the workspace (tests read nothing else).
pub fn media_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media")
}

/// Path of one fixture file.
pub fn media(name: &str) -> PathBuf {
    media_dir().join(name)
}

/// A unique scratch directory under the system temp dir (removed by the caller if wanted).
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("avad-media-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Panics with a clear message unless the ffmpeg and ffprobe CLIs can be run: the live parity tests need them, and
/// scripts/install-deps.sh installs them (in CI too), so a missing CLI is a broken setup, not a reason to pass.
pub fn require_cli() {
    for b in ["ffmpeg", "ffprobe"] {
        let ok = std::process::Command::new(b)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "the `{b}` CLI is required by the live ffmpeg parity tests but cannot be run; install it with \
             scripts/install-deps.sh (Debian package `ffmpeg`)"
        );
    }
}

/// Runs a command and returns its stdout, panicking with stderr on failure (test helper only).
pub fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .expect("spawn CLI");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Little-endian f32 samples from bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
