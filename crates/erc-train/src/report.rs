//! The JSON report of a run.

use std::collections::BTreeMap;

use erc_core::ClassificationReport;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;

/// Loss and metrics of one pass over a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitResult {
    /// Mean total loss per labelled utterance (weighted by batch size), if computed.
    pub loss: Option<f64>,
    /// Mean of each unweighted loss term.
    pub loss_terms: BTreeMap<String, f64>,
    /// Metrics over the split's labelled utterances.
    pub metrics: ClassificationReport,
}

/// One epoch of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Training loss and metrics (dropout active, model changing during the epoch).
    pub train: SplitResult,
    /// Validation loss and metrics at the end of the epoch.
    pub valid: SplitResult,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// Seconds spent on validation.
    pub valid_seconds: f64,
    /// Whether this epoch became the selected one when it ended.
    pub improved: bool,
    /// Mean loss and accuracy of the auxiliary face-emotion pass before the epoch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_emotions: Option<AuxiliaryResult>,
}

/// One pass of an auxiliary task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuxiliaryResult {
    /// Mean loss over the batches.
    pub loss: f64,
    /// Accuracy of the head over the pass (model changing during it).
    pub accuracy: f64,
}

/// Size facts of the dataset a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Dataset name.
    pub name: String,
    /// Dataset directory.
    pub path: String,
    /// Dialogues per split.
    pub dialogues: BTreeMap<String, usize>,
    /// Class names.
    pub classes: Vec<String>,
}

/// Everything about one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// erc version that produced the report.
    pub erc_version: String,
    /// The run's configuration.
    pub config: RunConfig,
    /// The data.
    pub dataset: DatasetSummary,
    /// Number of trainable parameters.
    pub num_params: usize,
    /// Per-epoch history.
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose model was kept (best validation score).
    pub selected_epoch: usize,
    /// Validation result of the selected epoch.
    pub selected_valid: SplitResult,
    /// Test result of the selected model, scored once at the end.
    pub test: SplitResult,
    /// Test metrics of always predicting the most frequent training class.
    pub majority_baseline_test: ClassificationReport,
    /// Whether early stopping ended the run before the last epoch.
    pub stopped_early: bool,
    /// Wall-clock seconds of the whole run (this process only, when resumed).
    pub seconds: f64,
}

/// Mean and sample standard deviation of one metric over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single seed.
    pub std: f64,
}

impl MeanStd {
    /// Summarises values.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        if values.is_empty() {
            return Self { mean: f64::NAN, std: f64::NAN };
        }
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Self { mean, std }
    }
}

impl std::fmt::Display for MeanStd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.4} ± {:.4}", self.mean, self.std)
    }
}

/// Mean ± std over seeds of every test metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedSummary {
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Test accuracy.
    pub accuracy: MeanStd,
    /// Test weighted-F1.
    pub weighted_f1: MeanStd,
    /// Test macro-F1.
    pub macro_f1: MeanStd,
    /// Test F1 per class name.
    pub per_class_f1: BTreeMap<String, MeanStd>,
    /// Selected epoch.
    pub selected_epoch: MeanStd,
    /// Validation score of the selected epoch (the selection metric).
    pub selected_valid_score: MeanStd,
}
