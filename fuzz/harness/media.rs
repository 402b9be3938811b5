//! Fuzz harness of avad-media's snippet and timestamp logic. Shared by the cargo-fuzz target `media_snippets` and
//! `crates/avad-media/tests/fuzz_corpus.rs` (see `core.rs` for the rules).
//!
//! FFmpeg's demuxers and decoders are not fuzzed (not ours); `avad_media::fuzzing::snippets` (feature `fuzzing`)
//! turns the input into synthetic decoder outputs (video pts in any time base, audio frames with any pts, length
//! and rate, gaps, jumps back, huge and non-finite values) and drives the real live clock, snippet assembly and
//! audio cutting with them, asserting the snippet invariants of docs/hostile-input.md.

#![allow(dead_code)]

/// Snippets: the whole drive and its invariant checks live in `avad_media::fuzzing`.
pub fn media_snippets(data: &[u8]) {
    avad_media::fuzzing::snippets(data);
}
