//! mAP@IoU exactly as VadCLIP's `src/utils/xd_detectionMAP.py` (`getDetectionMAP` / `getLocMAP`), quirks included.
//!
//! Per video and class: `c_score` = mean of the top ⌊N/16⌋ frame scores; a threshold of
//! `max − 0.6·(max − min)` (strictly above) gives runs, runs of ≥ 2 frames become proposals scored
//! `max(run) + 0.7·c_score`, then a per-video NMS at IoU 0.6 (length `e − s`, no +1). Over all videos, proposals
//! sorted by score are matched to the best-IoU ground truth of the same video and class (IoU on integer frame
//! ranges), which is then removed; `AP_c = Σ precision@tp / #GT_c` without interpolation. Officially the whole mAP
//! is 0 when any class has no proposal; [`EmptyClassRule::SkipEmptyClasses`] averages over the other classes.
//! Ties in score keep their original order (a stable sort); numpy's default sort does not promise any order there.

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
        per_class_ap.push(aps);
    }
    Ok(DetectionMapResult {
        ious: IOU_THRESHOLDS.to_vec(),
        map,
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
        let threshold = max - (max - min) * 0.6;
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

/// AP of one class at one IoU threshold, as `getLocMAP`'s inner loop.
fn class_ap(props: &[Proposal], segments: &[Vec<(String, f64, f64)>], code: &str, th: f64) -> f64 {
    let mut gt: Vec<(usize, f64, f64)> = segments
        .iter()
        .enumerate()
        .flat_map(|(v, segs)| {
            segs.iter()
                .filter(|(c, _, _)| c == code)
                .map(move |(_, s, e)| (v, *s, *e))
        })
        .collect();
    let gtpos = gt.len();
    let (mut tp_c, mut fp_c, mut sum) = (0.0f64, 0.0f64, 0.0f64);
    for p in props {
        let mut best: Option<(usize, f64)> = None;
        for (j, g) in gt.iter().enumerate() {
            if g.0 != p.video {
                continue;
            }
            let iou = range_iou(g.1, g.2, p.start as f64, p.end as f64);
            if iou >= th && best.is_none_or(|(_, b)| iou > b) {
                best = Some((j, iou));
            }
        }
        if let Some((j, _)) = best {
            gt.remove(j);
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
            &[v0.clone()],
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

    #[test]
    fn range_iou_matches_python_sets() {
        assert_eq!(range_iou(0.0, 10.0, 5.0, 15.0), 5.0 / 15.0);
        assert_eq!(range_iou(0.0, 10.0, 10.0, 20.0), 0.0);
        assert_eq!(range_iou(0.9, 10.9, 0.0, 10.0), 1.0);
    }
}
