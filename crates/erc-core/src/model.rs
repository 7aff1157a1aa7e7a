//! The contract between models and the trainer.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::batch::DialogueBatch;

/// Errors a model raises when it is built or run on data that does not fit it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ModelError {
    /// The model needs a modality the data lacks.
    #[error("modality `{name}` is not in the data (available: {available})")]
    MissingModality {
        /// The modality asked for.
        name: String,
        /// The modalities there are.
        available: String,
    },
    /// A configuration value is invalid.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// No model is registered under this name.
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// The model has no preset of this name.
    #[error("model `{model}` has no preset `{preset}` (presets: {known})")]
    UnknownPreset {
        /// The model.
        model: String,
        /// The preset asked for.
        preset: String,
        /// The presets there are.
        known: String,
    },
}

/// One named, weighted term of a model's training loss.
#[derive(Debug, Clone)]
pub struct LossTerm {
    /// Short name used in reports, e.g. `nll`, `focal`, `swfc`.
    pub name: String,
    /// The unweighted value, a scalar `[1]`.
    pub value: Tensor<1>,
    /// Weight of this term in the total loss.
    pub weight: f64,
}

impl LossTerm {
    /// A term with weight 1.
    pub fn new(name: impl Into<String>, value: Tensor<1>) -> Self {
        Self { name: name.into(), value, weight: 1.0 }
    }
}

/// What a model returns for a batch.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// Class log-probabilities `[B, T, C]` (rows at padded steps are unspecified).
    pub log_probs: Tensor<3>,
    /// The model's loss terms; empty when the batch carries no labels.
    pub loss_terms: Vec<LossTerm>,
}

impl ModelOutput {
    /// The weighted sum of the loss terms, `None` when there are none.
    pub fn total_loss(&self) -> Option<Tensor<1>> {
        self.loss_terms.iter().map(|t| t.value.clone().mul_scalar(t.weight)).reduce(|a, b| a + b)
    }
}

/// A model the trainer can drive: a forward pass over a dialogue batch returning
/// log-probabilities plus its own loss terms (so focal, contrastive and adversarial
/// objectives all fit).
pub trait DialogueModel: Module + 'static {
    /// Runs the model on a batch. Dropout and other training-only behaviour are active when
    /// the model lives on an autodiff device and was not turned into its `valid()` copy.
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError>;
}
