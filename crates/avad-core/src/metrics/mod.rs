//! Metrics with the exact semantics of the upstream code: sklearn's `average_precision_score` and
//! `roc_auc_score`, XD-Violence's PR-AUC (`auc(recall, precision)`), and VadCLIP's `xd_detectionMAP`.

pub mod ap;
pub mod detection_map;
pub mod pr_auc;
pub mod roc_auc;

pub use ap::average_precision;
pub use pr_auc::{pr_auc, precision_recall_curve};
pub use roc_auc::roc_auc;

use crate::{CoreError, Result};

/// Cumulative true/false positives at each distinct score threshold, scores in descending order
/// (sklearn's `_binary_clf_curve`): returns `(fps, tps, thresholds)`.
pub(crate) fn binary_clf_curve(
    labels: &[u8],
    scores: &[f64],
    metric: &'static str,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    if labels.len() != scores.len() {
        return Err(CoreError::Metric {
            metric,
            reason: format!("{} labels but {} scores", labels.len(), scores.len()),
        });
    }
    if labels.is_empty() {
        return Err(CoreError::Metric {
            metric,
            reason: "no samples".into(),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(CoreError::Metric {
            metric,
            reason: format!("score {i} is not finite"),
        });
    }
    // Descending by score; the order inside a tie does not matter because ties are grouped.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] != 0 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_group = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_group {
            tps.push(tp);
            fps.push(fp);
            thresholds.push(scores[i]);
        }
    }
    Ok((fps, tps, thresholds))
}
