//! Fuzz harness of avad-core's parsers: `.npy`, list CSVs, annotation files. Shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the stable replay test `crates/avad-core/tests/fuzz_corpus.rs`, so the corpus is
//! replayed through exactly the code that was fuzzed. Each function calls the entry point the CLI uses on bytes and
//! panics only when a rule of `docs/hostile-input.md` is broken (an error that does not name the file, a result
//! that contradicts itself).

#![allow(dead_code)]

use std::path::Path;

use avad_core::ground_truth::{build_ground_truth, parse_annotations, Strictness, VideoSpec};
use avad_core::labels::LabelMap;
use avad_core::lists::{parse_list, unique_videos};
use avad_core::npy::parse_npy_bytes;

/// The path the harness pretends each input was read from (never touched on disk).
pub const FUZZ_PATH: &str = "/nonexistent/avad-fuzz/input";

fn names_path(e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    assert!(
        msg.contains(FUZZ_PATH),
        "error does not name the file: {msg}"
    );
}

/// `.npy`: `avad_core::npy::parse_npy_bytes` (what `read_npy` runs on the file's bytes).
pub fn npy(data: &[u8]) {
    match parse_npy_bytes(data, Path::new(FUZZ_PATH)) {
        Ok(a) => {
            let n: usize = a.shape.iter().product();
            assert_eq!(a.data.len(), n, "shape {:?}", a.shape);
            if a.shape.len() <= 2 && a.cols() > 0 {
                for i in 0..a.rows() {
                    assert_eq!(a.row(i).len(), a.cols());
                }
            }
        }
        Err(e) => names_path(&e),
    }
}

/// List CSV: `avad_core::lists::parse_list` (what `read_list` runs), then the distinct videos.
pub fn list_csv(data: &[u8]) {
    match parse_list(data, Path::new(FUZZ_PATH), None) {
        Ok(entries) => {
            assert!(!entries.is_empty());
            let _ = unique_videos(&entries);
        }
        Err(e) => names_path(&e),
    }
}

/// Annotation file: `avad_core::ground_truth::parse_annotations` (what `read_annotations` runs), then the ground
/// truth `avad eval` builds from it, for every annotated video (a few snippets each), in both strictness modes.
pub fn annotations(data: &[u8]) {
    let path = Path::new(FUZZ_PATH);
    let ann = match parse_annotations(data, path) {
        Ok(a) => a,
        Err(e) => return names_path(&e),
    };
    let mut names: Vec<&String> = ann.videos.keys().collect();
    names.sort();
    let videos: Vec<VideoSpec> = names
        .iter()
        .enumerate()
        .map(|(i, v)| VideoSpec {
            video: v.to_string(),
            label: if i % 3 == 0 {
                "A".into()
            } else {
                "B1-G-0".into()
            },
            snippets: i % 7,
        })
        .collect();
    let labels = LabelMap::xd_violence();
    for strict in [Strictness::Strict, Strictness::Lenient] {
        match build_ground_truth(&videos, &ann, path, &labels, 16, strict) {
            Ok((truths, _)) => {
                for (t, v) in truths.iter().zip(&videos) {
                    assert_eq!(t.frame_labels.len(), v.snippets * 16);
                }
            }
            Err(e) => names_path(&e),
        }
    }
}
