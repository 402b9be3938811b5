//! `avad eval`: scores per snippet against the ground truth — frame AP, ROC-AUC, PR-AUC and XD mAP@IoU.
//!
//! Scores are per-snippet class probabilities [T, C] (column 0 = normal; anomaly score = 1 − p0) or anomaly scores
//! [T] only, in which case mAP is skipped with a note. Frame-level metrics repeat each snippet's score
//! `snippet_frames` times, as the official test scripts do.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::ground_truth::{
    build_ground_truth, read_annotations, Strictness, VideoSpec, VideoTruth,
};
use crate::labels::LabelMap;
use crate::lists::{read_list, unique_videos};
use crate::metrics::{self, detection_map::DetectionMapOptions};
use crate::npy::{read_npy, NpyArray};
use crate::{CoreError, Result};

/// Scores of one video: `classes` is C for class probabilities ([T, C], row-major) or 1 for anomaly scores only.
#[derive(Debug, Clone)]
pub struct ScoredVideo {
    /// Video name.
    pub video: String,
    /// Row-major scores, `snippets × classes` values.
    pub scores: Vec<f32>,
    /// Columns per snippet.
    pub classes: usize,
}

impl ScoredVideo {
    /// Number of snippets.
    pub fn snippets(&self) -> usize {
        self.scores.len() / self.classes.max(1)
    }

    /// Anomaly score of snippet `i`: 1 − p(normal), or the score itself for anomaly-only scores. Computed in
    /// f32, as the official test script does on float32 tensors, so frame metrics match it to the last bit.
    pub fn anomaly(&self, i: usize) -> f64 {
        if self.classes == 1 {
            self.scores[i] as f64
        } else {
            (1.0f32 - self.scores[i * self.classes]) as f64
        }
    }
}

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Frames per snippet (16 for XD-Violence and UCF-Crime, 4 for CCTV-Fights).
    pub snippet_frames: usize,
    /// The classes (and so the expected number of score columns).
    pub labels: LabelMap,
    /// Whether list/annotation mismatches are errors.
    pub strictness: Strictness,
    /// mAP options (the official quirks by default).
    pub detection_map: DetectionMapOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            snippet_frames: 16,
            labels: LabelMap::xd_violence(),
            strictness: Strictness::Strict,
            detection_map: DetectionMapOptions::default(),
        }
    }
}

/// The result of `avad eval`; its JSON form is the command's contract. All metrics are fractions in [0, 1].
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Frame-level average precision (sklearn `average_precision_score`).
    pub ap: f64,
    /// Frame-level ROC-AUC (sklearn `roc_auc_score`).
    pub auc: f64,
    /// XD-Violence's PR-AUC: trapezoid area under `precision_recall_curve`.
    pub pr_auc: f64,
    /// mAP at IoU 0.1 … 0.5 (keys `"0.1"` … `"0.5"`), `null` when skipped.
    pub map: Option<BTreeMap<String, f64>>,
    /// Mean of the five mAP values.
    pub map_avg: Option<f64>,
    /// AP per class code and IoU (`{"B1": {"0.1": …}}`).
    pub per_class_ap: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    /// Class codes that got no predicted segment (with the official rule, any such class makes every mAP 0).
    pub classes_without_prediction: Vec<String>,
    /// Number of videos scored.
    pub videos: usize,
    /// Number of frames scored.
    pub frames: usize,
    /// Things the user should know (skipped metrics, clipped segments, the mAP quirk firing).
    pub notes: Vec<String>,
}

/// Evaluates in-memory scores against ground truth built for the same videos (same order).
pub fn evaluate_videos(
    scored: &[ScoredVideo],
    truths: &[VideoTruth],
    opts: &EvalOptions,
) -> Result<EvalReport> {
    if scored.is_empty() {
        return Err(CoreError::Invalid("eval: no videos to score".into()));
    }
    let f = opts.snippet_frames;
    let mut labels = Vec::new();
    let mut anomaly = Vec::new();
    for (s, t) in scored.iter().zip(truths) {
        if s.video != t.video {
            return Err(CoreError::Invalid(format!(
                "eval: scores for {} do not line up with ground truth for {}",
                s.video, t.video
            )));
        }
        labels.extend_from_slice(&t.frame_labels);
        for i in 0..s.snippets() {
            let a = s.anomaly(i);
            anomaly.extend(std::iter::repeat_n(a, f));
        }
    }
    let mut notes = Vec::new();
    let ap = metrics::average_precision(&labels, &anomaly)?;
    let auc = metrics::roc_auc(&labels, &anomaly)?;
    let pr_auc = metrics::pr_auc(&labels, &anomaly)?;
    let (mut map, mut map_avg, mut per_class_ap, mut classes_without_prediction) =
        (None, None, None, Vec::new());
    let have_classes = scored.iter().all(|s| s.classes == opts.labels.len());
    let have_segments = truths.iter().all(|t| t.segments.is_some());
    if !have_classes {
        notes.push("mAP skipped: scores are anomaly scores only (no class probabilities)".into());
    } else if !have_segments {
        notes.push(
            "mAP skipped: the annotations carry no class codes for some multi-label videos \
             (use annotations_multiclasses.txt)"
                .into(),
        );
    } else {
        let c = opts.labels.len();
        let frame_scores: Vec<Vec<f64>> = scored
            .iter()
            .map(|s| {
                let mut out = Vec::with_capacity(s.scores.len() * f);
                for row in s.scores.chunks(c) {
                    for _ in 0..f {
                        out.extend(row.iter().map(|&v| v as f64));
                    }
                }
                out
            })
            .collect();
        let segments: Vec<Vec<(String, f64, f64)>> = truths
            .iter()
            .map(|t| {
                t.segments
                    .as_ref()
                    .expect("checked above")
                    .iter()
                    .map(|g| (g.class.clone(), g.start, g.end))
                    .collect()
            })
            .collect();
        let result = metrics::detection_map::detection_map(
            &frame_scores,
            c,
            &segments,
            &opts.labels.codes,
            &opts.detection_map,
        )?;
        let key = |iou: f64| format!("{iou:.1}");
        map = Some(
            result
                .ious
                .iter()
                .zip(&result.map)
                .map(|(&i, &m)| (key(i), m))
                .collect(),
        );
        map_avg = Some(result.map.iter().sum::<f64>() / result.map.len() as f64);
        let mut pc = BTreeMap::new();
        for (ci, code) in opts.labels.codes.iter().enumerate() {
            let row: BTreeMap<String, f64> = result
                .ious
                .iter()
                .enumerate()
                .map(|(k, &i)| (key(i), result.per_class_ap[k][ci]))
                .collect();
            pc.insert(code.clone(), row);
        }
        per_class_ap = Some(pc);
        classes_without_prediction = result.classes_without_prediction.clone();
        if result.zeroed_by_quirk {
            notes.push(format!(
                "mAP is 0 at every IoU because class(es) {} had no predicted segment (the official \
                 xd_detectionMAP rule, reproduced by default); see per_class_ap",
                classes_without_prediction.join(", ")
            ));
        }
    }
    Ok(EvalReport {
        ap,
        auc,
        pr_auc,
        map,
        map_avg,
        per_class_ap,
        classes_without_prediction,
        videos: scored.len(),
        frames: labels.len(),
        notes,
    })
}

/// Loads `DIR/<video>.npy` for every video of `list` and evaluates them against `annotations` (the `avad eval`
/// contract). Missing files, a wrong number of columns and non-finite scores are errors naming the video.
///
/// `frame_annotations`, when given, is the file the frame labels come from (the official XD-Violence protocol builds
/// frame labels from `annotations.txt` and mAP segments from `annotations_multiclasses.txt`; the two files disagree
/// on 5 of the 500 videos, by 143 frames in all). Without it both come from `annotations`.
pub fn evaluate_dir(
    scores_dir: &Path,
    list: &Path,
    annotations: &Path,
    frame_annotations: Option<&Path>,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    evaluate_with(
        &mut |video| {
            let path = scores_dir.join(format!("{video}.npy"));
            if !path.exists() {
                return Err(CoreError::Scores {
                    video: video.to_string(),
                    reason: format!("score file {} does not exist", path.display()),
                });
            }
            Ok((read_npy(&path)?, path.display().to_string()))
        },
        list,
        annotations,
        frame_annotations,
        opts,
    )
}

/// [`evaluate_dir`] with the scores of each video from `scores_of` instead of a folder: called once per video of
/// `list` (in list order) with the video's name, it returns the video's scores ([T, C] class probabilities or [T]
/// anomaly scores) and how to name them in errors (the file's path for [`evaluate_dir`]). The scores are checked
/// (columns, finite values, at least one snippet) and evaluated exactly as `avad eval` does.
pub fn evaluate_with(
    scores_of: &mut dyn FnMut(&str) -> Result<(NpyArray, String)>,
    list: &Path,
    annotations: &Path,
    frame_annotations: Option<&Path>,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let entries = read_list(list, None)?;
    let mut scored = Vec::new();
    let mut specs = Vec::new();
    for e in unique_videos(&entries) {
        let (arr, source) = scores_of(&e.video)?;
        let classes = match arr.shape.len() {
            1 => 1,
            2 if arr.shape[1] == opts.labels.len() => arr.shape[1],
            2 => {
                return Err(CoreError::Scores {
                    video: e.video.clone(),
                    reason: format!(
                        "{source} has {} columns, expected {} (one per class) or a 1-D array of anomaly scores",
                        arr.shape[1],
                        opts.labels.len()
                    ),
                })
            }
            _ => {
                return Err(CoreError::Scores {
                    video: e.video.clone(),
                    reason: format!("{source} has shape {:?}, expected [T, C] or [T]", arr.shape),
                })
            }
        };
        if let Some(i) = arr.data.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::Scores {
                video: e.video.clone(),
                reason: format!("{source} has a non-finite score at snippet {}", i / classes),
            });
        }
        if arr.rows() == 0 {
            return Err(CoreError::Scores {
                video: e.video.clone(),
                reason: format!("{source} has no snippets"),
            });
        }
        specs.push(VideoSpec {
            video: e.video.clone(),
            label: e.label.clone(),
            snippets: arr.rows(),
        });
        scored.push(ScoredVideo {
            video: e.video.clone(),
            scores: arr.data,
            classes,
        });
    }
    let ann = read_annotations(annotations)?;
    let (mut truths, mut warnings) = build_ground_truth(
        &specs,
        &ann,
        annotations,
        &opts.labels,
        opts.snippet_frames,
        opts.strictness,
    )?;
    if let Some(frame_path) = frame_annotations {
        let frame_ann = read_annotations(frame_path)?;
        let (frame_truths, frame_warnings) = build_ground_truth(
            &specs,
            &frame_ann,
            frame_path,
            &opts.labels,
            opts.snippet_frames,
            opts.strictness,
        )?;
        for (t, f) in truths.iter_mut().zip(frame_truths) {
            t.frame_labels = f.frame_labels;
        }
        warnings.extend(frame_warnings);
    }
    let mut report = evaluate_videos(&scored, &truths, opts)?;
    let clipped = warnings
        .iter()
        .filter(|w| w.contains("past the video"))
        .count();
    if clipped > 0 {
        report.notes.push(format!(
            "{clipped} annotated segment(s) end past their video's last frame and were clipped (as the official \
             make_gt scripts do), e.g. {}",
            warnings.iter().find(|w| w.contains("past the video")).unwrap()
        ));
    }
    report.notes.extend(
        warnings
            .into_iter()
            .filter(|w| !w.contains("past the video")),
    );
    Ok(report)
}
