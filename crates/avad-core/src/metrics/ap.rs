//! Average precision with sklearn's `average_precision_score` semantics (step-wise, no interpolation).

use super::binary_clf_curve;
use crate::{CoreError, Result};

/// AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds, labels 0/1. An error without positive labels
/// (sklearn warns and returns a meaningless value there).
pub fn average_precision(labels: &[u8], scores: &[f64]) -> Result<f64> {
    let (fps, tps, _) = binary_clf_curve(labels, scores, "average_precision")?;
    let total_pos = *tps.last().expect("non-empty");
    if total_pos == 0.0 {
        return Err(CoreError::Metric {
            metric: "average_precision",
            reason: "no positive labels".into(),
        });
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (tp, fp) in tps.iter().zip(&fps) {
        let recall = tp / total_pos;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sklearn_on_small_cases() {
        // sklearn: average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.8333…
        let ap = average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((ap - 0.8333333333333333).abs() < 1e-15, "{ap}");
        // Ties grouped: all scores equal → AP = positive rate.
        let ap = average_precision(&[1, 0, 0, 1, 0], &[0.5; 5]).unwrap();
        assert!((ap - 0.4).abs() < 1e-15);
        // sklearn: average_precision_score([1,0,1,0,1],[0.9,0.9,0.3,0.3,0.1]) = 0.6333…
        let ap = average_precision(&[1, 0, 1, 0, 1], &[0.9, 0.9, 0.3, 0.3, 0.1]).unwrap();
        assert!(
            (ap - (1.0 / 3.0 * 0.5 + 1.0 / 3.0 * 0.5 + 1.0 / 3.0 * 0.6)).abs() < 1e-15,
            "{ap}"
        );
        assert!(average_precision(&[0, 0], &[0.1, 0.2]).is_err());
    }

    #[test]
    fn single_positive_ties_and_degenerate_inputs() {
        // Values from sklearn 1.9.1 average_precision_score.
        let y = [0, 0, 0, 1, 0];
        assert_eq!(
            average_precision(&y, &[0.1, 0.2, 0.3, 0.9, 0.05]).unwrap(),
            1.0
        );
        assert_eq!(
            average_precision(&y, &[0.1, 0.95, 0.3, 0.9, 0.05]).unwrap(),
            0.5
        );
        let y = [1, 0, 1, 1, 0, 0];
        assert_eq!(average_precision(&y, &[0.5; 6]).unwrap(), 0.5);
        let ap = average_precision(&y, &[0.8, 0.8, 0.3, 0.3, 0.3, 0.1]).unwrap();
        assert!((ap - 0.5666666666666667).abs() < 1e-15, "{ap}");
        // Any non-zero label is positive.
        assert_eq!(average_precision(&[0, 7], &[0.1, 0.9]).unwrap(), 1.0);
        assert!(average_precision(&[], &[]).is_err());
        assert!(average_precision(&[0, 1], &[0.1]).is_err());
        assert!(average_precision(&[0, 1], &[0.1, f64::NAN]).is_err());
    }
}
