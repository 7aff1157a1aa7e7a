//! What a training run is made of.

use erc_core::training::TrainingPreset;
use erc_core::{BackendKind, MetricKind};
use erc_models::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Names of the three splits a run uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitNames {
    /// Split the model is fitted on.
    pub train: String,
    /// Split used for model selection, early stopping and the plateau schedule.
    pub valid: String,
    /// Split scored once, with the selected model.
    pub test: String,
}

impl Default for SplitNames {
    fn default() -> Self {
        Self { train: "train".into(), valid: "valid".into(), test: "test".into() }
    }
}

/// Everything that determines a run; stored in its report and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The model and its configuration, stored as `model` (the registry name) and
    /// `model_config` (the configuration's fields).
    #[serde(flatten)]
    pub model: ModelConfig,
    /// Preset the configuration started from.
    pub preset: String,
    /// Optimiser and loop settings.
    pub training: TrainingPreset,
    /// Metric that selects the epoch (higher is better).
    pub selection: MetricKind,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Backend the run executes on.
    pub backend: BackendKind,
    /// Split names.
    pub splits: SplitNames,
    /// The auxiliary face-emotion task, for models that have one (FacialMMT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_emotions: Option<FaceEmotionTraining>,
}

/// Training of a model's facial-expression head on an auxiliary face-emotion set
/// ([`erc_data::FaceEmotionSet`]): one pass over the set before each main epoch, with its own
/// AdamW optimiser, as FacialMMT alternates its two tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceEmotionTraining {
    /// The set's directory.
    pub path: std::path::PathBuf,
    /// Learning rate (the reference: 5e-5).
    pub lr: f64,
    /// Faces per batch (150).
    pub batch_size: usize,
    /// Global-norm gradient clip (0.8).
    pub grad_clip_norm: Option<f64>,
}

impl FaceEmotionTraining {
    /// The reference's settings for the set at `path`.
    pub fn reference(path: impl Into<std::path::PathBuf>) -> Self {
        Self { path: path.into(), lr: 5e-5, batch_size: 150, grad_clip_norm: Some(0.8) }
    }
}

impl RunConfig {
    /// A run of `model` at `preset` (`None`: the model's default preset), seed 0, on the
    /// first compiled backend, selecting on validation weighted-F1.
    pub fn from_preset(model: &str, preset: Option<&str>) -> Result<Self, TrainError> {
        let (model, preset, training) = ModelConfig::preset(model, preset)?;
        Ok(Self {
            model,
            preset: preset.into(),
            training,
            selection: MetricKind::WeightedF1,
            seed: 0,
            backend: BackendKind::default_compiled().unwrap_or(BackendKind::Flex),
            splits: SplitNames::default(),
            face_emotions: None,
        })
    }

    /// Merges a JSON object into the model configuration (`{"hidden": 64}` changes one field).
    pub fn override_model_config(&mut self, patch: &serde_json::Value) -> Result<(), TrainError> {
        self.model = self.model.with_overrides(patch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_and_its_configuration_serialise_side_by_side_as_before() {
        let config = RunConfig::from_preset("multiemo", Some("meld")).unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["model"], "multiemo");
        assert_eq!(json["model_config"]["fusion_layers"], 2);
        assert_eq!(json["preset"], "meld");
        assert_eq!(serde_json::from_value::<RunConfig>(json).unwrap(), config);
    }

    #[test]
    fn run_configs_written_before_the_restructuring_still_read() {
        // a checkpoint's run config as erc wrote it when reference-only switches were
        // configuration fields: they are ignored now
        let mut json = serde_json::to_value(RunConfig::from_preset("maln", None).unwrap()).unwrap();
        let model_config = json["model_config"].as_object_mut().unwrap();
        model_config.insert("reference_padding".into(), serde_json::json!(false));
        model_config.insert("specific_param_prefix".into(), serde_json::json!("specific_feature_extractor_"));
        model_config.insert(
            "dead_modules".into(),
            serde_json::json!({"comet_dim": 768, "speaker_embedding": [2, 100], "gru_smax_fc_classes": 6}),
        );
        let old: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old, RunConfig::from_preset("maln", None).unwrap());

        // an unknown model or a configuration of the wrong type is an error naming it
        let mut json = serde_json::to_value(RunConfig::from_preset("bigru", None).unwrap()).unwrap();
        json["model"] = serde_json::json!("transformer-xxl");
        let err = serde_json::from_value::<RunConfig>(json.clone()).unwrap_err().to_string();
        assert!(err.contains("transformer-xxl") && err.contains("bigru"), "{err}");
        json["model"] = serde_json::json!("bigru");
        json["model_config"]["hidden"] = serde_json::json!("wide");
        let err = serde_json::from_value::<RunConfig>(json).unwrap_err().to_string();
        assert!(err.contains("bigru") && err.contains("wide"), "{err}");
    }
}
