//! Per-epoch evaluation of both branches — video-level AP/AUC on the validation split (training lists have only
//! video-level labels) and frame-level AP/AUC on an annotated test set — and the model selection rule that judges
//! it.

use std::collections::BTreeMap;

use avad_infer::Predictor;
use avad_model::AvadClip;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::config::Selection;
use crate::data::Dataset;
use crate::error::{Result, TrainError};

/// AP and ROC-AUC of both branches (C-branch `1`, A-branch `2`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BranchMetrics {
    /// Average precision of `sigmoid(logits1)`.
    pub ap1: f64,
    /// ROC-AUC of `sigmoid(logits1)`.
    pub auc1: f64,
    /// Average precision of `1 − softmax(logits2)[:, 0]`.
    pub ap2: f64,
    /// ROC-AUC of `1 − softmax(logits2)[:, 0]`.
    pub auc2: f64,
    /// Number of scored items (videos or frames).
    pub n: usize,
}

/// A metric of avad-core (sklearn semantics), NaN (with a warning) when it is undefined (e.g. one class only).
fn metric(
    name: &str,
    f: fn(&[u8], &[f64]) -> avad_core::Result<f64>,
    scores: &[f32],
    labels: &[u8],
) -> f64 {
    let s: Vec<f64> = scores.iter().map(|&x| f64::from(x)).collect();
    f(labels, &s).unwrap_or_else(|e| {
        tracing::warn!("{name}: {e}");
        f64::NAN
    })
}

fn metrics(s1: &[f32], s2: &[f32], labels: &[bool]) -> BranchMetrics {
    use avad_core::metrics::{average_precision, roc_auc};
    let y: Vec<u8> = labels.iter().map(|&b| u8::from(b)).collect();
    BranchMetrics {
        ap1: metric("AP1", average_precision, s1, &y),
        auc1: metric("AUC1", roc_auc, s1, &y),
        ap2: metric("AP2", average_precision, s2, &y),
        auc2: metric("AUC2", roc_auc, s2, &y),
        n: labels.len(),
    }
}

/// Mean of the top `⌊len/16⌋+1` values (the MIL video score).
fn topk_mean(v: &[f32]) -> f32 {
    let k = v.len() / 16 + 1;
    let mut s = v.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    s[..k.min(s.len())].iter().sum::<f32>() / k.min(s.len()) as f32
}

/// Video-level metrics of both branches on `data` (rows already at the model's padded length): each row's
/// score is the top-k mean of its valid snippet probabilities, crops of one video are averaged, and the label
/// is "abnormal".
pub fn video_level_metrics<B: Backend>(
    model: &AvadClip<B>,
    text_features: Tensor<B, 2>,
    data: &Dataset,
    batch_size: usize,
) -> Result<BranchMetrics> {
    let device = text_features.device();
    let mut per_video: BTreeMap<&str, (f32, f32, usize, bool)> = BTreeMap::new();
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let batch = data.batch::<B>(chunk, &device)?;
        let out = model.forward_with_text_features(
            batch.visual,
            batch.audio,
            &batch.lengths,
            text_features.clone(),
        )?;
        let [b, t, c] = out.logits2.dims();
        let p1 = sigmoid(out.logits1)
            .reshape([b * t])
            .into_data()
            .convert::<f32>();
        let p2 = softmax(out.logits2, 2)
            .reshape([b * t, c])
            .into_data()
            .convert::<f32>();
        let p1 = p1
            .to_vec::<f32>()
            .map_err(|e| TrainError::Data(format!("{e:?}")))?;
        let p2 = p2
            .to_vec::<f32>()
            .map_err(|e| TrainError::Data(format!("{e:?}")))?;
        for (j, &i) in chunk.iter().enumerate() {
            let len = batch.lengths[j];
            let s1 = topk_mean(&p1[j * t..j * t + len]);
            let a2: Vec<f32> = (0..len).map(|r| 1.0 - p2[(j * t + r) * c]).collect();
            let s2 = topk_mean(&a2);
            let row = &data.rows[i];
            let e = per_video
                .entry(row.video.as_str())
                .or_insert((0.0, 0.0, 0, false));
            e.0 += s1;
            e.1 += s2;
            e.2 += 1;
            e.3 |= row.is_abnormal();
        }
    }
    let (mut s1, mut s2, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, n, ab) in per_video.values() {
        s1.push(a / *n as f32);
        s2.push(b / *n as f32);
        y.push(*ab);
    }
    Ok(metrics(&s1, &s2, &y))
}

/// One annotated test video: full-length features and frame-level ground truth.
#[derive(Debug, Clone)]
pub struct TestVideo {
    /// Video name (the output file stem).
    pub name: String,
    /// Row-major [T, D] visual features (not resampled).
    pub visual: Vec<f32>,
    /// Row-major [T, Da] audio features (audio models).
    pub audio: Option<Vec<f32>>,
    /// Frame-level 0/1 ground truth, `T · frame_factor` long.
    pub frame_gt: Vec<bool>,
}

/// The annotated test set for per-epoch test metrics (and `--select-on-test`).
#[derive(Debug, Clone)]
pub struct TestSet {
    /// Videos with full-length features and frame ground truth.
    pub videos: Vec<TestVideo>,
}

/// Frame-level metrics of both branches over `videos` (snippet scores repeated `frame_factor` times, videos
/// concatenated in order), as the official test scripts compute them.
pub fn frame_level_metrics<B: Backend>(
    predictor: &Predictor<B>,
    videos: &[TestVideo],
    frame_factor: usize,
) -> Result<BranchMetrics> {
    let (mut s1, mut s2, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for v in videos {
        let sc = predictor.predict(&v.visual, v.audio.as_deref())?;
        if v.frame_gt.len() != sc.t * frame_factor {
            return Err(TrainError::Data(format!(
                "{}: ground truth has {} frames, expected {} snippets × {frame_factor}",
                v.name,
                v.frame_gt.len(),
                sc.t
            )));
        }
        let p2 = sc.prob2();
        for (&a, &b) in sc.prob1.iter().zip(&p2) {
            s1.extend(std::iter::repeat_n(a, frame_factor));
            s2.extend(std::iter::repeat_n(b, frame_factor));
        }
        y.extend_from_slice(&v.frame_gt);
    }
    Ok(metrics(&s1, &s2, &y))
}

/// The metrics of one finished epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochMetrics {
    /// Video-level metrics on the validation split (when there is one).
    pub val: Option<BranchMetrics>,
    /// Frame-level metrics on the annotated test set (when given).
    pub test: Option<BranchMetrics>,
}

impl EpochMetrics {
    /// The metric `selection` judges: the A-branch AP on the validation split or on the test set; `None` for
    /// `last-epoch` or when that data is absent.
    pub fn selection_metric(&self, selection: Selection) -> Option<f64> {
        match selection {
            Selection::Validation => self.val.map(|m| m.ap2),
            Selection::Test => self.test.map(|m| m.ap2),
            Selection::LastEpoch => None,
        }
    }
}

/// Evaluates `model` (the inference view of the trained model, with its class names) after an epoch: video-level
/// metrics on `val` (rows at the model's padded length, scored in batches of `batch_size`) and frame-level metrics
/// on `test` (snippet scores repeated `frame_factor` times).
pub fn evaluate_epoch<B: Backend>(
    model: AvadClip<B>,
    class_names: Vec<String>,
    val: Option<&Dataset>,
    test: Option<&TestSet>,
    frame_factor: usize,
    batch_size: usize,
) -> Result<EpochMetrics> {
    let predictor = Predictor::new(model, class_names)?;
    let val = match val {
        Some(v) => Some(video_level_metrics(
            &predictor.model,
            predictor.text_features.clone(),
            v,
            batch_size,
        )?),
        None => None,
    };
    let test = match test {
        Some(t) => Some(frame_level_metrics(&predictor, &t.videos, frame_factor)?),
        None => None,
    };
    Ok(EpochMetrics { val, test })
}

/// The selection rule: an epoch becomes the best when its metric beats the best so far (the first metric that is
/// not NaN always does).
pub fn is_improvement(metric: Option<f64>, best: Option<f64>) -> bool {
    match (metric, best) {
        (Some(m), Some(b)) => m > b,
        (Some(m), None) => !m.is_nan(),
        _ => false,
    }
}
