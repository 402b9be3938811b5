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

/// Tiny models for end-to-end runs: a random teacher of the tiny CLIP fixture's width (24, audio width of
/// Wav2CLIP), the tiny CLIP fixture, and formula Wav2CLIP weights, in a temporary folder kept alive by `_dir`.
pub struct TinyModels {
    pub _dir: tempfile::TempDir,
    pub model: PathBuf,
    pub wav2clip: PathBuf,
    pub clip: PathBuf,
}

impl TinyModels {
    /// Writes the models (seed `seed` for the teacher).
    pub fn new(seed: u64) -> TinyModels {
        let dir = tempfile::tempdir().unwrap();
        let dev = burn_flex::FlexDevice;
        let wav2clip = dir.path().join("wav2clip.safetensors");
        avad_wav2clip::testing::save_formula_weights::<burn_flex::Flex>(&wav2clip, &dev).unwrap();
        let model = avad_train::testing::write_tiny_checkpoint::<burn_flex::Flex>(
            &dir.path().join("teacher"),
            24,
            Some(avad_wav2clip::EMBED_DIM),
            seed,
            &dev,
        )
        .unwrap();
        TinyModels {
            _dir: dir,
            model,
            wav2clip,
            clip: root().join("fixtures/clip/tiny_hf"),
        }
    }

    /// `--model M --clip-model C --wav2clip W`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--model".into(),
            self.model.display().to_string(),
            "--clip-model".into(),
            self.clip.display().to_string(),
            "--wav2clip".into(),
            self.wav2clip.display().to_string(),
        ]
    }
}
