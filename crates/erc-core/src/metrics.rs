//! Classification metrics with scikit-learn's definitions.
//!
//! * precision_c = TP / (TP + FP), 0 when class c is never predicted;
//! * recall_c = TP / (TP + FN), 0 when class c never occurs;
//! * F1_c = 2·P·R / (P + R), 0 when P + R = 0;
//! * weighted-F1 = Σ_c support_c · F1_c / N (support = true count);
//! * macro-F1 = mean of F1_c over the classes that occur in the truth or the predictions
//!   (`sklearn.metrics.f1_score(average="macro")` with `labels=None`); a class that is
//!   neither true nor predicted anywhere is left out, a class that is true but never predicted
//!   counts with F1 = 0.
//!
//! Callers pass unpadded, labelled utterances only.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why metrics could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricsError {
    /// Truth and predictions differ in length.
    #[error("{truth} true labels but {predicted} predictions")]
    LengthMismatch {
        /// Number of true labels.
        truth: usize,
        /// Number of predictions.
        predicted: usize,
    },
    /// A label is not below the number of classes.
    #[error("label {label} is out of range for {num_classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// The number of classes.
        num_classes: usize,
    },
    /// A metric name was not recognised.
    #[error("unknown metric `{0}`: expected accuracy, weighted_f1 or macro_f1")]
    UnknownMetric(String),
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true occurrences.
    pub support: usize,
}

/// Every metric erc reports for one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// Number of scored utterances.
    pub count: usize,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Unweighted mean of per-class F1 over the classes present in truth or predictions.
    pub macro_f1: f64,
    /// Per-class figures, in class-index order (all classes, present or not).
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// A scalar metric used to select models and stop early (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Accuracy.
    Accuracy,
    /// Weighted F1 (the ERC headline metric).
    WeightedF1,
    /// Macro F1.
    MacroF1,
}

impl MetricKind {
    /// The metric's value in a report.
    pub fn of(self, report: &ClassificationReport) -> f64 {
        match self {
            Self::Accuracy => report.accuracy,
            Self::WeightedF1 => report.weighted_f1,
            Self::MacroF1 => report.macro_f1,
        }
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::WeightedF1 => "weighted_f1",
            Self::MacroF1 => "macro_f1",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MetricKind {
    type Err = MetricsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "accuracy" | "acc" => Ok(Self::Accuracy),
            "weighted_f1" | "wf1" => Ok(Self::WeightedF1),
            "macro_f1" | "mf1" => Ok(Self::MacroF1),
            _ => Err(MetricsError::UnknownMetric(s.to_string())),
        }
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

/// Computes every metric for `truth` vs `predicted` over `classes` (names in index order).
pub fn classification_report(
    truth: &[usize],
    predicted: &[usize],
    classes: &[String],
) -> Result<ClassificationReport, MetricsError> {
    if truth.len() != predicted.len() {
        return Err(MetricsError::LengthMismatch { truth: truth.len(), predicted: predicted.len() });
    }
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&y, &p) in truth.iter().zip(predicted) {
        for label in [y, p] {
            if label >= k {
                return Err(MetricsError::LabelOutOfRange { label, num_classes: k });
            }
        }
        confusion[y][p] += 1;
    }
    let n = truth.len();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let mut per_class = Vec::with_capacity(k);
    let (mut weighted, mut macro_sum, mut macro_count) = (0.0, 0.0, 0usize);
    for c in 0..k {
        let tp = confusion[c][c];
        let support: usize = confusion[c].iter().sum();
        let predicted_c: usize = (0..k).map(|r| confusion[r][c]).sum();
        let precision = ratio(tp, predicted_c);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        weighted += support as f64 * f1;
        if support > 0 || predicted_c > 0 {
            macro_sum += f1;
            macro_count += 1;
        }
        per_class.push(ClassMetrics { class: classes[c].clone(), precision, recall, f1, support });
    }
    Ok(ClassificationReport {
        count: n,
        accuracy: ratio(correct, n),
        weighted_f1: if n == 0 { 0.0 } else { weighted / n as f64 },
        macro_f1: if macro_count == 0 { 0.0 } else { macro_sum / macro_count as f64 },
        per_class,
        confusion,
    })
}

impl fmt::Display for ClassificationReport {
    /// A human-readable table: headline metrics, per-class figures, confusion matrix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "n={}  accuracy={:.4}  weighted-F1={:.4}  macro-F1={:.4}",
            self.count, self.accuracy, self.weighted_f1, self.macro_f1
        )?;
        let width = self.per_class.iter().map(|c| c.class.len()).max().unwrap_or(5).max(5);
        writeln!(f, "{:>width$}  precision  recall      f1  support", "class")?;
        for c in &self.per_class {
            writeln!(
                f,
                "{:>width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                c.class, c.precision, c.recall, c.f1, c.support
            )?;
        }
        writeln!(f, "confusion (rows = true, columns = predicted):")?;
        for (c, row) in self.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>6}")).collect();
            writeln!(f, "{:>width$} {}", self.per_class[c].class, cells.join(""))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("c{c}")).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn hand_computed_three_classes() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let r = classification_report(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &names(3)).unwrap();
        close(r.accuracy, 4.0 / 6.0);
        // class 0: P=2/2 R=2/3 F1=0.8; class 1: P=1/2 R=1/2 F1=0.5; class 2: P=1/2 R=1 F1=2/3
        close(r.per_class[0].f1, 0.8);
        close(r.per_class[1].f1, 0.5);
        close(r.per_class[2].f1, 2.0 / 3.0);
        close(r.weighted_f1, (3.0 * 0.8 + 2.0 * 0.5 + 1.0 * 2.0 / 3.0) / 6.0);
        close(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0);
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!(r.per_class[0].support, 3);
    }

    #[test]
    fn a_class_never_predicted_has_f1_zero_and_counts_in_macro() {
        // class 2 occurs but is never predicted
        let r = classification_report(&[0, 1, 2, 2], &[0, 1, 0, 1], &names(3)).unwrap();
        assert_eq!(r.per_class[2].precision, 0.0);
        assert_eq!(r.per_class[2].f1, 0.0);
        // class 0: P=1/2 R=1 F1=2/3; class 1: same
        close(r.macro_f1, (2.0 / 3.0 + 2.0 / 3.0 + 0.0) / 3.0);
        close(r.weighted_f1, (2.0 / 3.0 + 2.0 / 3.0) / 4.0);
    }

    #[test]
    fn an_absent_class_is_left_out_of_macro_f1() {
        // class 3 neither occurs nor is predicted: sklearn leaves it out of the macro mean
        let r = classification_report(&[0, 0, 1, 2], &[0, 0, 1, 1], &names(4)).unwrap();
        assert_eq!(r.per_class[3].support, 0);
        assert_eq!(r.per_class[3].f1, 0.0);
        // F1: c0 = 1, c1 = 2/3 (P=1/2, R=1), c2 = 0
        close(r.macro_f1, (1.0 + 2.0 / 3.0 + 0.0) / 3.0);
    }

    #[test]
    fn a_predicted_but_absent_class_counts_in_macro_with_zero() {
        let r = classification_report(&[0, 0], &[0, 1], &names(2)).unwrap();
        // c0: P=1 R=1/2 F1=2/3; c1: never true, predicted once: F1=0, included
        close(r.macro_f1, (2.0 / 3.0) / 2.0);
        close(r.weighted_f1, 2.0 / 3.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(classification_report(&[0], &[0, 1], &names(2)), Err(MetricsError::LengthMismatch { .. })));
        assert!(matches!(
            classification_report(&[0, 5], &[0, 1], &names(2)),
            Err(MetricsError::LabelOutOfRange { label: 5, .. })
        ));
        assert_eq!("weighted-f1".parse::<MetricKind>(), Ok(MetricKind::WeightedF1));
        assert!("f2".parse::<MetricKind>().is_err());
    }

    #[test]
    fn empty_input_gives_zeros() {
        let r = classification_report(&[], &[], &names(2)).unwrap();
        assert_eq!((r.count, r.accuracy, r.macro_f1), (0, 0.0, 0.0));
    }
}
