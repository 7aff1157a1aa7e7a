//! The simple reference models that prove the spine: a bidirectional GRU over the
//! concatenated modalities (context-aware) and a per-utterance MLP (context-free).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use erc_core::loss::masked_nll;
use erc_core::rnn::{MaskedBiGru, MaskedBiGruConfig};
use erc_core::training::TrainingPreset;
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelFactory, ModelOutput, Preset};
use serde::{Deserialize, Serialize};

use crate::modalities::{self, check_weights};

/// Concatenates the selected modalities: `[B, T, Σ D_m]`.
fn concat_modalities(batch: &DialogueBatch, names: &[String]) -> Result<Tensor<3>, ModelError> {
    let parts = names.iter().map(|m| batch.modality(m)).collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::cat(parts, 2))
}

fn output(log_probs: Tensor<3>, batch: &DialogueBatch, weights: Option<&[f32]>) -> ModelOutput {
    let loss_terms =
        masked_nll(log_probs.clone(), batch, weights).map(|nll| vec![LossTerm::new("nll", nll)]).unwrap_or_default();
    ModelOutput { log_probs, loss_terms }
}

/// Configuration of [`BiGruBaseline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiGruConfig {
    /// Modalities to read (`None`: all; or initials such as `["tav"]`).
    pub modalities: Option<Vec<String>>,
    /// Hidden size of each GRU direction.
    pub hidden: usize,
    /// Stacked bidirectional layers.
    pub layers: usize,
    /// Dropout on the input and on the GRU output.
    pub dropout: f64,
    /// Optional per-class loss weights.
    pub class_weights: Option<Vec<f32>>,
}

impl Default for BiGruConfig {
    fn default() -> Self {
        Self { modalities: None, hidden: 128, layers: 1, dropout: 0.3, class_weights: None }
    }
}

/// Bidirectional GRU over the concatenated modalities, then a linear classifier.
#[derive(Module, Debug)]
pub struct BiGruBaseline {
    input_dropout: Dropout,
    gru: MaskedBiGru,
    output_dropout: Dropout,
    classifier: Linear,
    #[module(skip)]
    modalities: Vec<String>,
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
}

impl DialogueModel for BiGruBaseline {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let x = self.input_dropout.forward(concat_modalities(batch, &self.modalities)?); // [B, T, D]
        let h = self.gru.forward(x, &batch.layout.lengths); // [B, T, 2H]
        let logits = self.classifier.forward(self.output_dropout.forward(h)); // [B, T, C]
        Ok(output(log_softmax(logits, 2), batch, self.class_weights.as_deref()))
    }
}

/// Registry entry of [`BiGruBaseline`].
pub struct BiGruModel;

impl ModelFactory for BiGruModel {
    const NAME: &'static str = "bigru";
    const DESCRIPTION: &'static str =
        "reference model: bidirectional GRU over concatenated modalities + linear classifier";
    type Config = BiGruConfig;
    type Model = BiGruBaseline;

    const PRESETS: &'static [Preset<BiGruConfig>] =
        &[Preset { name: "default", make: || (BiGruConfig::default(), TrainingPreset::default()) }];

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        let selected = modalities::resolve(config.modalities.as_deref(), spec)?;
        check_weights(&config.class_weights, spec)?;
        if config.hidden == 0 || config.layers == 0 {
            return Err(ModelError::InvalidConfig("hidden and layers must be positive".into()));
        }
        let d_in: usize = selected.iter().map(|(_, d)| d).sum();
        Ok(BiGruBaseline {
            input_dropout: DropoutConfig::new(config.dropout).init(),
            gru: MaskedBiGruConfig::new(d_in, config.hidden).with_num_layers(config.layers).init(device),
            output_dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(2 * config.hidden, spec.num_classes()).init(device),
            modalities: selected.into_iter().map(|(n, _)| n).collect(),
            class_weights: config.class_weights.clone(),
        })
    }
}

/// Configuration of [`MlpBaseline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Modalities to read (`None`: all).
    pub modalities: Option<Vec<String>>,
    /// Hidden layer width.
    pub hidden: usize,
    /// Dropout on the input and hidden layer.
    pub dropout: f64,
    /// Optional per-class loss weights.
    pub class_weights: Option<Vec<f32>>,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self { modalities: None, hidden: 256, dropout: 0.3, class_weights: None }
    }
}

/// A per-utterance two-layer perceptron over the concatenated modalities: sees no context.
#[derive(Module, Debug)]
pub struct MlpBaseline {
    dropout: Dropout,
    hidden: Linear,
    classifier: Linear,
    #[module(skip)]
    modalities: Vec<String>,
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
}

impl DialogueModel for MlpBaseline {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let x = self.dropout.forward(concat_modalities(batch, &self.modalities)?); // [B, T, D]
        let h = self.dropout.forward(relu(self.hidden.forward(x))); // [B, T, H]
        let logits = self.classifier.forward(h); // [B, T, C]
        Ok(output(log_softmax(logits, 2), batch, self.class_weights.as_deref()))
    }
}

/// Registry entry of [`MlpBaseline`].
pub struct MlpModel;

impl ModelFactory for MlpModel {
    const NAME: &'static str = "mlp";
    const DESCRIPTION: &'static str = "context-free baseline: per-utterance MLP over concatenated modalities";
    type Config = MlpConfig;
    type Model = MlpBaseline;

    const PRESETS: &'static [Preset<MlpConfig>] =
        &[Preset { name: "default", make: || (MlpConfig::default(), TrainingPreset::default()) }];

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        let selected = modalities::resolve(config.modalities.as_deref(), spec)?;
        check_weights(&config.class_weights, spec)?;
        let d_in: usize = selected.iter().map(|(_, d)| d).sum();
        Ok(MlpBaseline {
            dropout: DropoutConfig::new(config.dropout).init(),
            hidden: LinearConfig::new(d_in, config.hidden).init(device),
            classifier: LinearConfig::new(config.hidden, spec.num_classes()).init(device),
            modalities: selected.into_iter().map(|(n, _)| n).collect(),
            class_weights: config.class_weights.clone(),
        })
    }
}
