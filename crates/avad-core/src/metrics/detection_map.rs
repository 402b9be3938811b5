//! mAP@IoU exactly as VadCLIP's `src/utils/xd_detectionMAP.py` (`getDetectionMAP` / `getLocMAP`), quirks included.
//!
//! Per video and class: `c_score` = mean of the top ⌊N/16⌋ frame scores; a threshold of
//! `max − 0.6·(max − min)` (strictly above) gives runs, runs of ≥ 2 frames become proposals scored
//! `max(run) + 0.7·c_score`, then a per-video NMS at IoU 0.6 (length `e − s`, no +1). Over all videos, proposals
//! sorted by score are matched to the best-IoU ground truth of the same video and class (IoU on integer frame
//! ranges), which is then removed; `AP_c = Σ precision@tp / #GT_c` without interpolation. Officially the whole mAP
//! is 0 when any class has no proposal; [`EmptyClassRule::SkipEmptyClasses`] averages over the other classes.
//! Ties in score keep their original order (a stable sort); numpy's default sort does not promise any order there
//! (introsort or a SIMD sort, by CPU), so with tied proposal scores the upstream result itself is not reproducible.
//!
//! Arithmetic follows upstream on float32 predictions under numpy 2 (NEP 50): `c_score` is a float32 mean (rows
//! summed in order), `max − min` a float32 difference, the threshold and the `>` comparison float64, and the
//! proposal score `max + 0.7·c_score` float32. Inputs are f64 but are meant to hold float32 values.
//! Degenerate input: a video with fewer than 16 frames has no `c_score` (upstream: NaN) and gets no proposals;
//! a video with no frames is skipped (upstream raises); ground-truth codes not in `class_codes` are ignored
//! (upstream raises). Cost: one O(N log N) sort per video and class, matching against the video's own segments.

use crate::{CoreError, Result};

/// The IoU thresholds of the XD-Violence mAP table.
pub const IOU_THRESHOLDS: [f64; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];

/// What to do when a class has no proposal at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyClassRule {
    /// The official code: `getLocMAP` returns 0 for the whole mAP (a bug, reproduced by default).
    #[default]
    Official,
    /// The mean over the classes that have proposals.
    SkipEmptyClasses,
}

/// Options of [`detection_map`].
#[derive(Debug, Clone, Default)]
pub struct DetectionMapOptions {
    /// The empty-class rule.
    pub empty_class_rule: EmptyClassRule,
}

/// The result: mAP per IoU as fractions (the official code prints ×100), and AP per IoU and class.
#[derive(Debug, Clone)]
pub struct DetectionMapResult {
    /// IoU thresholds.
    pub ious: Vec<f64>,
    /// mAP per IoU, fraction in [0, 1].
    pub map: Vec<f64>,
    /// Mean of `map` over the IoU thresholds (the "AVG" column), fraction.
    pub map_avg: f64,
    /// mAP per IoU in the upstream scale and arithmetic: `100 * mean_c(AP_c)` (0 when zeroed by the quirk).
    pub map_x100: Vec<f64>,
    /// AP per IoU (outer) and class (inner), fractions; 0 for classes without proposals.
    pub per_class_ap: Vec<Vec<f64>>,
    /// Codes of classes that got no proposal.
    pub classes_without_prediction: Vec<String>,
    /// True when the official rule set every mAP to 0.
    pub zeroed_by_quirk: bool,
}

/// One proposal: video index, start and end frame, score.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    video: usize,
    start: usize,
    end: usize,
    score: f64,
}

/// Computes mAP@IoU. `frame_scores[v]` is video v's [N, C] row-major frame-level class scores (snippet scores
/// repeated ×16); `segments[v]` its ground-truth `(class code, start, end)`; `class_codes` the C codes in column
/// order (normal included, as the official `excludeNormal=False`).
pub fn detection_map(
    frame_scores: &[Vec<f64>],
    classes: usize,
    segments: &[Vec<(String, f64, f64)>],
    class_codes: &[String],
    opts: &DetectionMapOptions,
) -> Result<DetectionMapResult> {
    if frame_scores.len() != segments.len() {
        return Err(CoreError::Invalid(format!(
            "detection_map: {} score arrays but {} ground-truth lists",
            frame_scores.len(),
            segments.len()
        )));
    }
    if classes == 0 {
        return Err(CoreError::Invalid("detection_map: no classes".into()));
    }
    for (v, scores) in frame_scores.iter().enumerate() {
        if !scores.len().is_multiple_of(classes) {
            return Err(CoreError::Invalid(format!(
                "detection_map: video {v} has {} scores, not a multiple of {classes} classes",
                scores.len()
            )));
        }
        if let Some(i) = scores.iter().position(|x| !x.is_finite()) {
            return Err(CoreError::Invalid(format!(
                "detection_map: video {v} frame {} class {} score is not finite",
                i / classes,
                i % classes
            )));
        }
    }
    if class_codes.len() != classes {
        return Err(CoreError::Invalid(format!(
            "detection_map: {} class codes for {classes} columns",
            class_codes.len()
        )));
    }
    let proposals: Vec<Vec<Proposal>> = (0..classes)
        .map(|c| class_proposals(frame_scores, classes, c))
        .collect();
    let classes_without_prediction: Vec<String> = (0..classes)
        .filter(|&c| proposals[c].is_empty())
        .map(|c| class_codes[c].clone())
        .collect();
    let mut map = Vec::new();
    let mut map_x100 = Vec::new();
    let mut per_class_ap = Vec::new();
    for &th in &IOU_THRESHOLDS {
        let aps: Vec<f64> = (0..classes)
            .map(|c| class_ap(&proposals[c], segments, &class_codes[c], th))
            .collect();
        let value = match opts.empty_class_rule {
            EmptyClassRule::Official if !classes_without_prediction.is_empty() => 0.0,
            EmptyClassRule::Official => aps.iter().sum::<f64>() / classes as f64,
            EmptyClassRule::SkipEmptyClasses => {
                let kept: Vec<f64> = (0..classes)
                    .filter(|&c| !proposals[c].is_empty())
                    .map(|c| aps[c])
                    .collect();
                if kept.is_empty() {
                    0.0
                } else {
                    kept.iter().sum::<f64>() / kept.len() as f64
                }
            }
        };
        map.push(value);
        map_x100.push(match opts.empty_class_rule {
            EmptyClassRule::Official if !classes_without_prediction.is_empty() => 0.0,
            _ => 100.0 * value,
        });
        per_class_ap.push(aps);
    }
    let map_avg = map.iter().sum::<f64>() / map.len() as f64;
    Ok(DetectionMapResult {
        ious: IOU_THRESHOLDS.to_vec(),
        map,
        map_avg,
        map_x100,
        per_class_ap,
        zeroed_by_quirk: opts.empty_class_rule == EmptyClassRule::Official
            && !classes_without_prediction.is_empty(),
        classes_without_prediction,
    })
}

/// All proposals of class `c` over the videos, in the order the official code builds them (per video: score
/// descending, then NMS), then sorted by score descending (stable).
fn class_proposals(frame_scores: &[Vec<f64>], classes: usize, c: usize) -> Vec<Proposal> {
    let mut all = Vec::new();
    for (v, scores) in frame_scores.iter().enumerate() {
        let n = scores.len() / classes;
        if n == 0 {
            continue;
        }
        let col: Vec<f64> = (0..n).map(|i| scores[i * classes + c]).collect();
        // c_score: mean of the top int(N/16) values of this column. Upstream runs on float32 arrays: numpy sums
        // the rows of an axis-0 mean one by one in float32 and divides in float32; we do the same so that proposal
        // scores (and so their order) are bit-identical.
        let top = n / 16;
        let c_score = if top == 0 {
            f32::NAN
        } else {
            let mut sorted = col.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let sum = sorted[..top].iter().fold(0.0f32, |acc, &x| acc + x as f32);
            sum / top as f32
        };
        // predictions * (c_score > 0): a column whose c_score is not positive becomes all zeros.
        let tmp: Vec<f64> = if c_score > 0.0 { col } else { vec![0.0; n] };
        let c_score = c_score as f64;
        let (mut max, mut min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &x in &tmp {
            max = max.max(x);
            min = min.min(x);
        }
        // numpy 2 on float32 columns: `np.max(tmp) - np.min(tmp)` is a float32 difference (rounded to f32), the
        // factor `0.6` is a float64 array element, so the threshold is a float64 and `tmp > threshold` compares in
        // float64 (NEP 50 promotion).
        let range = (max as f32 - min as f32) as f64;
        let threshold = max - range * 0.6;
        let mut video_props = Vec::new();
        let mut i = 0;
        while i < n {
            if tmp[i] > threshold {
                let s = i;
                while i < n && tmp[i] > threshold {
                    i += 1;
                }
                let e = i;
                if e - s >= 2 {
                    let run_max = tmp[s..e].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    // float32 arithmetic as numpy 2 does it (`np.float32 + 0.7 * np.float32`).
                    let score = run_max as f32 + 0.7f32 * c_score as f32;
                    video_props.push(Proposal {
                        video: v,
                        start: s,
                        end: e,
                        score: score as f64,
                    });
                }
            } else {
                i += 1;
            }
        }
        video_props.sort_by(|a, b| b.score.total_cmp(&a.score));
        all.extend(nms(&video_props, 0.6));
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    all
}

/// The official 1-D NMS: keep the best, drop those overlapping it with IoU > `thresh`, repeat.
fn nms(sorted: &[Proposal], thresh: f64) -> Vec<Proposal> {
    let mut order: Vec<usize> = (0..sorted.len()).collect();
    let mut keep = Vec::new();
    while let Some(&i) = order.first() {
        keep.push(sorted[i]);
        let (s1, e1) = (sorted[i].start as f64, sorted[i].end as f64);
        order = order[1..]
            .iter()
            .copied()
            .filter(|&j| {
                let (s2, e2) = (sorted[j].start as f64, sorted[j].end as f64);
                let inter = (e1.min(e2) - s1.max(s2)).max(0.0);
                let ovr = inter / ((e1 - s1) + (e2 - s2) - inter);
                ovr <= thresh
            })
            .collect();
    }
    keep
}

/// IoU of Python `range(int(a), int(b))` and `range(int(c), int(d))` as sets.
fn range_iou(a: f64, b: f64, c: f64, d: f64) -> f64 {
    let (a, b, c, d) = (
        a.trunc() as i64,
        b.trunc() as i64,
        c.trunc() as i64,
        d.trunc() as i64,
    );
    let len1 = (b - a).max(0);
    let len2 = (d - c).max(0);
    let inter = (b.min(d) - a.max(c)).max(0).min(len1).min(len2);
    let union = len1 + len2 - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// AP of one class at one IoU threshold, as `getLocMAP`'s inner loop. The ground truth is indexed per video (the
/// upstream scans one flat list, skipping other videos: same matches, same first-wins rule on equal IoU).
fn class_ap(props: &[Proposal], segments: &[Vec<(String, f64, f64)>], code: &str, th: f64) -> f64 {
    let mut gt: Vec<Vec<(f64, f64)>> = segments
        .iter()
        .map(|segs| {
            segs.iter()
                .filter(|(c, _, _)| c == code)
                .map(|(_, s, e)| (*s, *e))
                .collect()
        })
        .collect();
    let gtpos: usize = gt.iter().map(Vec::len).sum();
    let (mut tp_c, mut fp_c, mut sum) = (0.0f64, 0.0f64, 0.0f64);
    for p in props {
        let mut best: Option<(usize, f64)> = None;
        let video_gt = &mut gt[p.video];
        for (j, g) in video_gt.iter().enumerate() {
            let iou = range_iou(g.0, g.1, p.start as f64, p.end as f64);
            if iou >= th && best.is_none_or(|(_, b)| iou > b) {
                best = Some((j, iou));
            }
        }
        if let Some((j, _)) = best {
            video_gt.remove(j);
            tp_c += 1.0;
            sum += tp_c / (tp_c + fp_c);
        } else {
            fp_c += 1.0;
        }
    }
    if tp_c == 0.0 {
        0.0
    } else {
        sum / gtpos as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> Vec<String> {
        vec!["A".into(), "B1".into()]
    }

    #[test]
    fn a_perfect_detection_scores_one() {
        // Video 0: class B1 high on frames 32..64 of 96; video 1: normal.
        let mut v0 = Vec::new();
        for i in 0..96 {
            let b = if (32..64).contains(&i) { 0.9 } else { 0.1 };
            v0.extend([1.0 - b, b]);
        }
        let v1: Vec<f64> = (0..48)
            .flat_map(|i| [0.9 - 0.001 * i as f64, 0.1])
            .collect();
        let segs = vec![
            vec![("B1".to_string(), 32.0, 64.0)],
            vec![("A".to_string(), 0.0, 48.0)],
        ];
        let r = detection_map(
            &[v0, v1],
            2,
            &segs,
            &codes(),
            &DetectionMapOptions::default(),
        )
        .unwrap();
        assert!(r.classes_without_prediction.is_empty());
        assert!((r.per_class_ap[0][1] - 1.0).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn a_class_without_proposals_zeroes_the_official_map() {
        // Constant column for B1 → no run above threshold (strict >) → no proposal.
        let v0: Vec<f64> = (0..32)
            .flat_map(|i| [if i < 16 { 0.9 } else { 0.2 }, 0.5])
            .collect();
        let segs = vec![vec![("A".to_string(), 0.0, 32.0)]];
        let r = detection_map(
            std::slice::from_ref(&v0),
            2,
            &segs,
            &codes(),
            &DetectionMapOptions::default(),
        )
        .unwrap();
        assert_eq!(r.classes_without_prediction, vec!["B1".to_string()]);
        assert!(r.zeroed_by_quirk);
        assert!(r.map.iter().all(|&m| m == 0.0));
        let opts = DetectionMapOptions {
            empty_class_rule: EmptyClassRule::SkipEmptyClasses,
        };
        let r = detection_map(&[v0], 2, &segs, &codes(), &opts).unwrap();
        assert!(r.map[0] > 0.0);
    }

    /// Two-class video of `n` frames: column B1 is 0.9 on `hot` and 0.1 elsewhere, column A is 1 − B1.
    fn video(n: usize, hot: std::ops::Range<usize>) -> Vec<f64> {
        (0..n)
            .flat_map(|i| {
                let b = if hot.contains(&i) { 0.9 } else { 0.1 };
                [1.0 - b, b]
            })
            .collect()
    }

    #[test]
    fn tied_proposal_scores_keep_video_order() {
        // Both videos give B1 the same proposal [0, 16) with the same score; only video 1 has it as ground truth.
        // Stable order: video 0 (false positive) first, then video 1 (true positive) → AP = (1/2) / 1.
        let segs = vec![
            vec![("A".to_string(), 16.0, 32.0)],
            vec![("B1".to_string(), 0.0, 16.0), ("A".to_string(), 16.0, 32.0)],
        ];
        let r = detection_map(
            &[video(32, 0..16), video(32, 0..16)],
            2,
            &segs,
            &codes(),
            &DetectionMapOptions::default(),
        )
        .unwrap();
        for k in 0..5 {
            assert_eq!(r.per_class_ap[k][1], 0.5, "{r:?}");
            assert_eq!(r.per_class_ap[k][0], 1.0, "{r:?}");
            assert!((r.map[k] - 0.75).abs() < 1e-15);
            assert!((r.map_x100[k] - 75.0).abs() < 1e-12);
        }
        assert!((r.map_avg - 0.75).abs() < 1e-15);
    }

    #[test]
    fn single_frame_runs_are_dropped_and_matched_ground_truth_is_removed() {
        // B1 high on frame 5 only (run of 1: no proposal) and on 20..24 and 40..44 (two proposals), one GT [16, 48).
        let mut v = video(64, 20..24);
        for i in [5, 40, 41, 42, 43] {
            v[2 * i] = 0.1;
            v[2 * i + 1] = 0.9;
        }
        let segs = vec![vec![
            ("B1".to_string(), 16.0, 48.0),
            ("A".to_string(), 0.0, 16.0),
        ]];
        let r = detection_map(&[v], 2, &segs, &codes(), &DetectionMapOptions::default()).unwrap();
        // IoU of each 4-frame proposal with the 32-frame GT is 0.125: a match at 0.1 only. The first proposal takes
        // the GT, the second is a false positive: AP = 1/1.
        assert_eq!(r.per_class_ap[0][1], 1.0, "{r:?}");
        assert_eq!(r.per_class_ap[1][1], 0.0, "{r:?}");
    }

    #[test]
    fn bad_shapes_and_non_finite_scores_are_errors() {
        let segs = vec![vec![("A".to_string(), 0.0, 16.0)]];
        let o = DetectionMapOptions::default();
        assert!(detection_map(&[vec![0.5; 3]], 2, &segs, &codes(), &o).is_err());
        assert!(detection_map(&[vec![f64::NAN; 4]], 2, &segs, &codes(), &o).is_err());
        assert!(detection_map(&[vec![0.5; 4]], 2, &[], &codes(), &o).is_err());
        assert!(detection_map(&[vec![0.5; 4]], 3, &segs, &codes(), &o).is_err());
    }

    #[test]
    fn threshold_uses_a_float32_range_like_numpy() {
        // max 0.9f32, min m: numpy rounds max − min to float32, so the threshold is 0.36737520694…, just below v
        // (a float32 value); with an exact range the threshold would equal v and v's run would vanish.
        let (max, m, v) = (0.9f32 as f64, 0.012292057275772095, 0.3673752248287201);
        assert_eq!(m as f32 as f64, m);
        assert_eq!(v as f32 as f64, v);
        let mut col = vec![m; 32];
        col[..2].fill(max);
        col[4..6].fill(v);
        let props = class_proposals(&[col], 1, 0);
        let spans: Vec<(usize, usize)> = props.iter().map(|p| (p.start, p.end)).collect();
        assert_eq!(spans, vec![(0, 2), (4, 6)]);
    }

    #[test]
    fn range_iou_matches_python_sets() {
        assert_eq!(range_iou(0.0, 10.0, 5.0, 15.0), 5.0 / 15.0);
        assert_eq!(range_iou(0.0, 10.0, 10.0, 20.0), 0.0);
        assert_eq!(range_iou(0.9, 10.9, 0.0, 10.0), 1.0);
    }
}
