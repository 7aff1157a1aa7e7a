//! Scoring models and checkpoints on dataset splits.

use std::collections::BTreeMap;

use burn::tensor::Device;
use erc_core::metrics::classification_report;
use erc_core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModelOutput};
use erc_data::{Batcher, Dataset};

use crate::checkpoint::Checkpoint;
use crate::error::TrainError;
use crate::progress;
use crate::report::SplitResult;

/// Accumulates losses and predictions over the batches of one pass.
#[derive(Debug, Default)]
pub struct PassAccumulator {
    loss_sum: f64,
    term_sums: BTreeMap<String, f64>,
    labelled: usize,
    truth: Vec<usize>,
    predicted: Vec<usize>,
}

impl PassAccumulator {
    /// Adds one batch's output. Returns the batch's total loss, if the model produced one.
    pub fn add(&mut self, output: &ModelOutput, batch: &DialogueBatch) -> Result<Option<f32>, TrainError> {
        let rows = batch.layout.labelled_rows();
        if rows.is_empty() {
            return Ok(None);
        }
        let [b, t, c] = output.log_probs.dims();
        let index = erc_core::batch::index_tensor(&rows, &output.log_probs.device());
        let predicted = output.log_probs.clone().detach().reshape([b * t, c]).select(0, index).argmax(1);
        self.predicted.extend(predicted.into_data().iter::<i64>().map(|p| p as usize));
        self.truth.extend(rows.iter().map(|&r| batch.layout.labels[r] as usize));
        let n = rows.len() as f64;
        self.labelled += rows.len();
        // one read-back per term; the total is their weighted sum, formed on the host
        let mut total = None;
        for term in &output.loss_terms {
            let v = term.value.clone().detach().into_scalar::<f32>() as f64;
            *self.term_sums.entry(term.name.clone()).or_default() += v * n;
            *total.get_or_insert(0.0) += term.weight * v;
        }
        if let Some(v) = total {
            self.loss_sum += v * n;
        }
        Ok(total.map(|v| v as f32))
    }

    /// Metrics and mean losses of the pass.
    pub fn finish(self, classes: &[String]) -> Result<SplitResult, TrainError> {
        let n = self.labelled.max(1) as f64;
        Ok(SplitResult {
            loss: (!self.term_sums.is_empty()).then(|| self.loss_sum / n),
            loss_terms: self.term_sums.into_iter().map(|(k, v)| (k, v / n)).collect(),
            metrics: classification_report(&self.truth, &self.predicted, classes)?,
        })
    }
}

/// Runs `model` (put it in evaluation mode first with `valid()`) over some dialogues.
pub fn evaluate<M: DialogueModel>(
    model: &M,
    dataset: &Dataset,
    dialogues: &[usize],
    batcher: &Batcher,
    device: &Device,
    show_progress: bool,
) -> Result<SplitResult, TrainError> {
    let plan = batcher.plan(dialogues, None);
    let bar = progress::bar(plan.len(), "evaluate", show_progress);
    let mut acc = PassAccumulator::default();
    for ids in &plan {
        let batch = batcher.load(dataset, ids, device)?;
        let output = model.forward(&batch)?;
        acc.add(&output, &batch)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    acc.finish(&dataset.manifest().classes)
}

/// Checks that a dataset fits a model built for `trained`: same classes, every modality the
/// model was built with present at the same dimension, no more speakers than it knows.
pub fn check_compatible(trained: &DataSpec, data: &DataSpec) -> Result<(), TrainError> {
    let bad = |m: String| TrainError::Config(format!("dataset does not fit the checkpoint: {m}"));
    if trained.classes != data.classes {
        return Err(bad(format!("classes [{}] vs [{}]", trained.classes.join(", "), data.classes.join(", "))));
    }
    for m in &trained.modalities {
        match data.modality_dim(&m.name) {
            Ok(d) if d == m.dim => {}
            Ok(d) => return Err(bad(format!("modality `{}` has dimension {d}, the model expects {}", m.name, m.dim))),
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    if data.num_speakers > trained.num_speakers {
        return Err(bad(format!("{} speakers, the model was built for {}", data.num_speakers, trained.num_speakers)));
    }
    Ok(())
}

/// Scores a checkpoint on a split of a dataset.
pub fn evaluate_checkpoint(
    checkpoint: &Checkpoint,
    dataset: &Dataset,
    split: &str,
    backend: BackendKind,
    batch_size: usize,
    progress: bool,
) -> Result<SplitResult, TrainError> {
    check_compatible(&checkpoint.meta.spec, &dataset.spec())?;
    let dialogues = dataset.split(split)?;
    let device = backend.device()?;
    let model = checkpoint.load_model(&device)?;
    let spec = &checkpoint.meta.spec;
    let batcher = Batcher::new(batch_size).with_modalities(spec.modality_names()).with_speaker_slots(spec.num_speakers);
    evaluate(&model, dataset, dialogues, &batcher, &device, progress)
}
