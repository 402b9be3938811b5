//! ROC-AUC with sklearn's `roc_auc_score` semantics (trapezoid over the ROC curve, ties grouped).

use super::binary_clf_curve;
use crate::{CoreError, Result};

/// Area under the ROC curve; an error when only one class is present (sklearn raises there).
pub fn roc_auc(labels: &[u8], scores: &[f64]) -> Result<f64> {
    let (fps, tps, _) = binary_clf_curve(labels, scores, "roc_auc")?;
    let (p, n) = (
        *tps.last().expect("non-empty"),
        *fps.last().expect("non-empty"),
    );
    if p == 0.0 || n == 0.0 {
        return Err(CoreError::Metric {
            metric: "roc_auc",
            reason: "only one class present in the labels; ROC-AUC is undefined".into(),
        });
    }
    let mut area = 0.0;
    let (mut x0, mut y0) = (0.0, 0.0);
    for (fp, tp) in fps.iter().zip(&tps) {
        let (x1, y1) = (fp / n, tp / p);
        area += (x1 - x0) * (y0 + y1) / 2.0;
        (x0, y0) = (x1, y1);
    }
    Ok(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sklearn_on_small_cases() {
        // sklearn: roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.75
        assert!((roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap() - 0.75).abs() < 1e-15);
        // Ties count half.
        assert!((roc_auc(&[0, 1], &[0.5, 0.5]).unwrap() - 0.5).abs() < 1e-15);
        assert!(roc_auc(&[1, 1], &[0.5, 0.1]).is_err());
    }

    #[test]
    fn single_positive_ties_and_degenerate_inputs() {
        // Values from sklearn 1.9.1 roc_auc_score.
        let y = [0, 0, 0, 1, 0];
        assert_eq!(roc_auc(&y, &[0.1, 0.2, 0.3, 0.9, 0.05]).unwrap(), 1.0);
        assert_eq!(roc_auc(&y, &[0.1, 0.95, 0.3, 0.9, 0.05]).unwrap(), 0.75);
        let y = [1, 0, 1, 1, 0, 0];
        assert_eq!(roc_auc(&y, &[0.5; 6]).unwrap(), 0.5);
        let auc = roc_auc(&y, &[0.8, 0.8, 0.3, 0.3, 0.3, 0.1]).unwrap();
        assert!((auc - 0.6111111111111112).abs() < 1e-15, "{auc}");
        assert!(roc_auc(&[0, 0], &[0.5, 0.1]).is_err());
        assert!(roc_auc(&[], &[]).is_err());
        assert!(roc_auc(&[0, 1], &[f64::INFINITY, 0.1]).is_err());
    }
}
