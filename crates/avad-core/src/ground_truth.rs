//! Ground truth from XD-Violence-style annotation files and the per-video snippet count T.
//!
//! `annotations.txt` lines are `<video> s1 e1 s2 e2 …`; `annotations_multiclasses.txt` lines are
//! `<video> C1 s1 e1 C2 s2 e2 …` (frame indices of the original video, end exclusive as numpy slicing treats
//! them). Names may end in `.mp4`. Frame labels follow `list/make_gt_xd.py` (length T × `snippet_frames`, segments
//! clipped at the end); segments for mAP follow `list/make_gt_mAP_xd.py` (a normal video is one `A` segment
//! `[0, T × snippet_frames]`).

use std::collections::HashMap;
use std::path::Path;

use crate::labels::LabelMap;
use crate::{CoreError, Result};

/// One annotated interval, in frames of the original video; `class` is `None` in the binary format.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatedSegment {
    /// The class code (`B1`, `G`, ...) in the multi-class format.
    pub class: Option<String>,
    /// First frame.
    pub start: u64,
    /// End frame (exclusive).
    pub end: u64,
}

/// The parsed annotation file: video name → segments, in file order.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// Segments per video name (`.mp4` suffix removed).
    pub videos: HashMap<String, Vec<AnnotatedSegment>>,
    /// True if the file carried class codes.
    pub multiclass: bool,
}

/// Reads `annotations.txt` or `annotations_multiclasses.txt` (the format is detected per line).
pub fn read_annotations(path: &Path) -> Result<Annotations> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    parse_annotations(&bytes, path)
}

/// Parses the bytes of an annotation file; `path` names it in errors (the entry point of [`read_annotations`] and
/// of the fuzz target `annotations`).
pub fn parse_annotations(bytes: &[u8], path: &Path) -> Result<Annotations> {
    let text = std::str::from_utf8(bytes).map_err(|e| CoreError::Annotation {
        path: path.to_path_buf(),
        reason: format!("not UTF-8 text ({e})"),
    })?;
    let err = |line: usize, reason: String| CoreError::Annotation {
        path: path.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    };
    let mut out = Annotations::default();
    let mut any_multiclass = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut tokens = line.split_whitespace();
        let Some(name) = tokens.next() else { continue };
        let name = name.strip_suffix(".mp4").unwrap_or(name).to_string();
        let rest: Vec<&str> = tokens.collect();
        let multiclass = rest.first().is_some_and(|t| t.parse::<u64>().is_err());
        any_multiclass |= multiclass;
        let step = if multiclass { 3 } else { 2 };
        if rest.is_empty() || !rest.len().is_multiple_of(step) {
            return Err(err(
                n,
                format!(
                    "video {name}: expected {} after the name, found {} fields",
                    if multiclass {
                        "groups of <class> <start> <end>"
                    } else {
                        "pairs of <start> <end>"
                    },
                    rest.len()
                ),
            ));
        }
        let parse = |t: &str| {
            t.parse::<u64>()
                .map_err(|_| err(n, format!("video {name}: '{t}' is not a frame number")))
        };
        let segments = out.videos.entry(name.clone()).or_default();
        for group in rest.chunks(step) {
            let (class, s, e) = if multiclass {
                (Some(group[0].to_string()), group[1], group[2])
            } else {
                (None, group[0], group[1])
            };
            let (start, end) = (parse(s)?, parse(e)?);
            if end < start {
                return Err(err(
                    n,
                    format!("video {name}: segment end {end} is before its start {start}"),
                ));
            }
            segments.push(AnnotatedSegment { class, start, end });
        }
    }
    out.multiclass = any_multiclass;
    Ok(out)
}

/// A test video as the ground truth needs it: its name, its list label string and its snippet count T.
#[derive(Debug, Clone)]
pub struct VideoSpec {
    /// Video name (as in the list, without crop suffix).
    pub video: String,
    /// Label string from the list (`A`, `B2-G-0`, ...).
    pub label: String,
    /// Number of snippets T.
    pub snippets: usize,
}

/// A ground-truth segment for mAP: class code and `[start, end]` in frames.
#[derive(Debug, Clone, PartialEq)]
pub struct GtSegment {
    /// Class code (`A` for normal videos).
    pub class: String,
    /// Start frame.
    pub start: f64,
    /// End frame.
    pub end: f64,
}

/// The ground truth of one video.
#[derive(Debug, Clone)]
pub struct VideoTruth {
    /// Video name.
    pub video: String,
    /// Frame-level 0/1 labels, length T × `snippet_frames`.
    pub frame_labels: Vec<u8>,
    /// Segments for mAP (`None` when the classes of a binary annotation cannot be known).
    pub segments: Option<Vec<GtSegment>>,
}

/// How strictly list and annotations must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// An abnormal list video without annotation, or an annotation naming a video not in the list, is an error.
    Strict,
    /// Those become warnings (reported, never silently dropped).
    Lenient,
}

/// Builds frame labels and mAP segments for `videos` (in list order). Returns the truths and the warnings to show
/// the user (segments clipped at the end of a video, and in lenient mode the list/annotation mismatches).
pub fn build_ground_truth(
    videos: &[VideoSpec],
    annotations: &Annotations,
    annotations_path: &Path,
    labels: &LabelMap,
    snippet_frames: usize,
    strictness: Strictness,
) -> Result<(Vec<VideoTruth>, Vec<String>)> {
    let mut warnings = Vec::new();
    let problem = |reason: String, warnings: &mut Vec<String>| -> Result<()> {
        match strictness {
            Strictness::Strict => Err(CoreError::Annotation {
                path: annotations_path.to_path_buf(),
                reason,
            }),
            Strictness::Lenient => {
                warnings.push(reason);
                Ok(())
            }
        }
    };
    let listed: std::collections::HashSet<&str> = videos.iter().map(|v| v.video.as_str()).collect();
    let mut unknown: Vec<&String> = annotations
        .videos
        .keys()
        .filter(|k| !listed.contains(k.as_str()))
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        problem(
            format!(
                "{} annotated video(s) are not in the list, e.g. '{}'",
                unknown.len(),
                unknown[0]
            ),
            &mut warnings,
        )?;
    }
    let mut truths = Vec::with_capacity(videos.len());
    for v in videos {
        let frames = v.snippets * snippet_frames;
        let mut frame_labels = vec![0u8; frames];
        let normal = labels.is_normal(&v.label);
        let segments = if normal {
            if annotations.videos.contains_key(&v.video) {
                problem(
                    format!("video {} is normal in the list but annotated", v.video),
                    &mut warnings,
                )?;
            }
            Some(vec![GtSegment {
                class: labels.codes[0].clone(),
                start: 0.0,
                end: frames as f64,
            }])
        } else {
            match annotations.videos.get(&v.video) {
                None => {
                    problem(
                        format!(
                            "video {} is abnormal in the list ({}) but has no annotation",
                            v.video, v.label
                        ),
                        &mut warnings,
                    )?;
                    Some(Vec::new())
                }
                Some(segs) => {
                    let mut out = Vec::with_capacity(segs.len());
                    let single_class = single_anomaly_class(labels, &v.label);
                    for s in segs {
                        if s.end as usize > frames {
                            warnings.push(format!(
                                "video {}: segment [{}, {}) ends past the video's {} frames ({} snippets); clipped",
                                v.video, s.start, s.end, frames, v.snippets
                            ));
                        }
                        let (a, b) = ((s.start as usize).min(frames), (s.end as usize).min(frames));
                        frame_labels[a..b].iter_mut().for_each(|x| *x = 1);
                        let class = s.class.clone().or_else(|| single_class.clone());
                        out.push(class.map(|class| GtSegment {
                            class,
                            start: s.start as f64,
                            end: s.end as f64,
                        }));
                    }
                    out.into_iter().collect::<Option<Vec<_>>>()
                }
            }
        };
        truths.push(VideoTruth {
            video: v.video.clone(),
            frame_labels,
            segments,
        });
    }
    Ok((truths, warnings))
}

/// The one anomaly class code of a label string, if it names exactly one.
fn single_anomaly_class(labels: &LabelMap, label: &str) -> Option<String> {
    let hot = labels.multi_hot(label);
    let classes: Vec<usize> = (1..hot.len()).filter(|&i| hot[i] > 0.0).collect();
    match classes.as_slice() {
        [c] => Some(labels.codes[*c].clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn frame_labels_and_segments_follow_the_official_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.txt", "v1_label_B2-G-0.mp4 B2 0 20 G 10 40\n");
        let ann = read_annotations(&p).unwrap();
        assert!(ann.multiclass);
        let videos = vec![
            VideoSpec {
                video: "v1_label_B2-G-0".into(),
                label: "B2-G-0".into(),
                snippets: 2,
            },
            VideoSpec {
                video: "n_label_A".into(),
                label: "A".into(),
                snippets: 3,
            },
        ];
        let (t, warnings) = build_ground_truth(
            &videos,
            &ann,
            &p,
            &LabelMap::xd_violence(),
            16,
            Strictness::Strict,
        )
        .unwrap();
        assert_eq!(t[0].frame_labels.len(), 32);
        assert_eq!(
            t[0].frame_labels.iter().map(|&x| x as usize).sum::<usize>(),
            32
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("past the video"));
        assert_eq!(t[0].segments.as_ref().unwrap()[1].class, "G");
        assert_eq!(
            t[1].segments.as_ref().unwrap()[0],
            GtSegment {
                class: "A".into(),
                start: 0.0,
                end: 48.0
            }
        );
        assert!(t[1].frame_labels.iter().all(|&x| x == 0));
    }

    #[test]
    fn mismatches_are_errors_naming_the_file_and_video() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ann.txt", "ghost_label_B1-0-0 0 10\n");
        let ann = read_annotations(&p).unwrap();
        let videos = vec![VideoSpec {
            video: "real_label_B1-0-0".into(),
            label: "B1-0-0".into(),
            snippets: 4,
        }];
        let msg = build_ground_truth(
            &videos,
            &ann,
            &p,
            &LabelMap::xd_violence(),
            16,
            Strictness::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("ann.txt")
                && msg.contains("ghost_label_B1-0-0")
                && msg.contains("not in the list"),
            "{msg}"
        );
        let (_, warnings) = build_ground_truth(
            &videos,
            &ann,
            &p,
            &LabelMap::xd_violence(),
            16,
            Strictness::Lenient,
        )
        .unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn malformed_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.txt", "v 1 2 3\n");
        let msg = read_annotations(&p).unwrap_err().to_string();
        assert!(msg.contains("bad.txt") && msg.contains("line 1"), "{msg}");
    }
}
