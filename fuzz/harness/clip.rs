//! Fuzz harness of avad-clip's BPE tokenizer on arbitrary text. Shared by the cargo-fuzz target and
//! `crates/avad-clip/tests/fuzz_corpus.rs` (see `core.rs` for the rules).

#![allow(dead_code)]

use std::sync::OnceLock;

use avad_clip::tokenizer::{Tokenizer, CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN};

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(Tokenizer::new)
}

/// Builds the tokenizer (its 49 408-entry vocabulary and merge table) once, before fuzzing starts: the fuzz target
/// calls this from libFuzzer's `LLVMFuzzerInitialize`, so that this fixed, input-independent cost is not charged to
/// the first input (under ASan on a loaded machine it took over the 1 s `-timeout`: the empty input
/// `fuzz/artifacts-kept/tokenizer/timeout-da39a3ee…` of the second run of 2026-12-02).
pub fn warm_up() {
    let _ = tokenizer();
}

/// Tokenizer: the bytes as (lossy) UTF-8 text through `tokenize_ids` (what `avad clip --text` runs), `tokenize`
/// and `decode`.
pub fn tokenizer_text(data: &[u8]) {
    let t = tokenizer();
    let text = String::from_utf8_lossy(data);
    let ids = t.tokenize_ids(&text, CONTEXT_LENGTH);
    assert!(ids.len() >= 2 && ids.len() <= CONTEXT_LENGTH);
    assert_eq!(ids[0], SOT_TOKEN);
    assert_eq!(*ids.last().expect("non-empty"), EOT_TOKEN);
    assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
    let row = t.tokenize(&text);
    assert_eq!(&row[..ids.len()], &ids[..]);
    let _ = t.decode(&ids);
}
