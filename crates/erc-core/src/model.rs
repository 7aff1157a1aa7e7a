//! The contract between models and the trainer: [`DialogueModel`] runs a batch, [`ModelFactory`]
//! builds a model by name from its configuration or a named preset.

use std::fmt::Debug;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::{DataSpec, DialogueBatch};
use crate::error::ModelError;
use crate::training::TrainingPreset;

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

/// A named preset: a model configuration and the training settings that go with it.
#[derive(Debug, Clone, Copy)]
pub struct Preset<C: 'static> {
    /// The preset's name (`erc train --preset NAME`).
    pub name: &'static str,
    /// The configuration and training settings.
    pub make: fn() -> (C, TrainingPreset),
}

/// What a model needs beyond utterance vectors, and which extra training tasks it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// The model has an auxiliary face-emotion task (a head trained on a face-emotion set in
    /// alternating epochs, [`ModelFactory::face_emotion_logits`]).
    pub face_emotion_task: bool,
    /// The model reads per-utterance sequence modalities (tokens, frames, faces;
    /// [`crate::sequences`]) rather than one vector per utterance.
    pub sequence_inputs: bool,
}

/// How to build one model: its name, presets and constructor.
pub trait ModelFactory {
    /// Registry name (`erc train --model NAME`).
    const NAME: &'static str;
    /// One-line description for `erc models`.
    const DESCRIPTION: &'static str;
    /// What the model needs and which extra tasks it has.
    const CAPABILITIES: Capabilities = Capabilities { face_emotion_task: false, sequence_inputs: false };
    /// The model's configuration, stored in checkpoints as JSON.
    type Config: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + 'static;
    /// The model.
    type Model: DialogueModel;

    /// The preset table; the first is the default. Each preset is named here once.
    const PRESETS: &'static [Preset<Self::Config>];

    /// Builds a freshly initialised model for a dataset.
    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError>;

    /// Facial-expression logits `[N, C]` of face embeddings `[N, D]`, for models with the
    /// face-emotion task; `None` for the others.
    fn face_emotion_logits(_model: &Self::Model, _faces: Tensor<2>) -> Option<Tensor<2>> {
        None
    }

    /// Preset names, default first.
    fn preset_names() -> Vec<&'static str> {
        Self::PRESETS.iter().map(|p| p.name).collect()
    }

    /// The preset named `name`, or an error listing the presets there are.
    fn find_preset(name: &str) -> Result<&'static Preset<Self::Config>, ModelError> {
        Self::PRESETS.iter().find(|p| p.name == name).ok_or_else(|| ModelError::UnknownPreset {
            model: Self::NAME.into(),
            preset: name.into(),
            known: Self::preset_names().join(", "),
        })
    }

    /// A preset's configuration and training settings, or an error listing the presets there are.
    fn preset(name: &str) -> Result<(Self::Config, TrainingPreset), ModelError> {
        Self::find_preset(name).map(|p| (p.make)())
    }
}
