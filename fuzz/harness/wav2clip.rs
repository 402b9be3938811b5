//! Fuzz harness of avad-wav2clip's WAV reader. Shared by the cargo-fuzz target and
//! `crates/avad-wav2clip/tests/fuzz_corpus.rs` (see `core.rs` for the rules).

#![allow(dead_code)]

use std::path::Path;

use avad_wav2clip::wav::{parse_wav, parse_wav_mono_16k};

/// The path the harness pretends each input was read from (never touched on disk).
pub const FUZZ_PATH: &str = "/nonexistent/avad-fuzz/input";

/// WAV: `parse_wav` (what `read_wav` runs) and `parse_wav_mono_16k` (parse + 16 kHz resampling, the path of
/// `avad wav2clip --audio`).
pub fn wav(data: &[u8]) {
    let path = Path::new(FUZZ_PATH);
    match parse_wav(data, path) {
        Ok(w) => {
            assert!(w.channels > 0 && w.sample_rate > 0);
            let x = parse_wav_mono_16k(data, path).expect("parsed once, resamples");
            let expect = (w.samples.len() as u64 * 16_000).div_ceil(u64::from(w.sample_rate));
            if w.sample_rate != 16_000 && !w.samples.is_empty() {
                assert_eq!(x.len() as u64, expect);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(FUZZ_PATH),
                "error does not name the file: {msg}"
            );
        }
    }
}
