//! XD-Violence's PR-AUC: `sklearn.metrics.auc(recall, precision)` over `precision_recall_curve`
//! (`Roc-Ng/XDVioDet: test.py`), i.e. the trapezoid rule, which differs slightly from AP's step rule.

use super::binary_clf_curve;
use crate::{CoreError, Result};

/// sklearn's `precision_recall_curve`: `(precision, recall, thresholds)` with recall decreasing and the final
/// point (recall 0, precision 1) appended.
pub fn precision_recall_curve(
    labels: &[u8],
    scores: &[f64],
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let (fps, tps, thresholds) = binary_clf_curve(labels, scores, "precision_recall_curve")?;
    let total = *tps.last().expect("non-empty");
    if total == 0.0 {
        return Err(CoreError::Metric {
            metric: "precision_recall_curve",
            reason: "no positive labels".into(),
        });
    }
    let mut precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .map(|(t, f)| if t + f > 0.0 { t / (t + f) } else { 0.0 })
        .rev()
        .collect();
    let mut recall: Vec<f64> = tps.iter().map(|t| t / total).rev().collect();
    precision.push(1.0);
    recall.push(0.0);
    Ok((precision, recall, thresholds.into_iter().rev().collect()))
}

/// Trapezoid area under the precision-recall curve (fraction in [0, 1]).
pub fn pr_auc(labels: &[u8], scores: &[f64]) -> Result<f64> {
    let (precision, recall, _) = precision_recall_curve(labels, scores)?;
    // recall is non-increasing: sklearn's auc flips the sign of the trapezoid.
    let mut area = 0.0;
    for i in 0..recall.len() - 1 {
        area += (recall[i] - recall[i + 1]) * (precision[i] + precision[i + 1]) / 2.0;
    }
    Ok(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sklearn_on_a_small_case() {
        // sklearn: p, r, _ = precision_recall_curve([0,0,1,1],[0.1,0.4,0.35,0.8]); auc(r, p) = 0.7916666…
        let v = pr_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((v - 0.7916666666666666).abs() < 1e-15, "{v}");
    }

    #[test]
    fn single_positive_ties_and_degenerate_inputs() {
        // Values from sklearn 1.9.1: p, r, _ = precision_recall_curve(y, s); auc(r, p).
        let y = [0, 0, 0, 1, 0];
        assert_eq!(pr_auc(&y, &[0.1, 0.2, 0.3, 0.9, 0.05]).unwrap(), 1.0);
        assert_eq!(pr_auc(&y, &[0.1, 0.95, 0.3, 0.9, 0.05]).unwrap(), 0.25);
        let (p, r, t) = precision_recall_curve(&y, &[0.1, 0.95, 0.3, 0.9, 0.05]).unwrap();
        assert_eq!(r, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(p[4..], [0.0, 1.0]);
        assert_eq!(t, vec![0.05, 0.1, 0.3, 0.9, 0.95]);
        let y = [1, 0, 1, 1, 0, 0];
        assert_eq!(pr_auc(&y, &[0.5; 6]).unwrap(), 0.75);
        let v = pr_auc(&y, &[0.8, 0.8, 0.3, 0.3, 0.3, 0.1]).unwrap();
        assert!((v - 0.6166666666666667).abs() < 1e-15, "{v}");
        assert!(pr_auc(&[0, 0], &[0.5, 0.1]).is_err());
    }
}
