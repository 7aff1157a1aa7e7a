//! The model registry: every model the trainer and the CLI can build by name.

use std::fmt::Debug;

use burn::tensor::{Device, Tensor};
use erc_core::training::TrainingPreset;
use erc_core::{DataSpec, DialogueModel, ModelError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::baseline::{BiGruModel, MlpModel};
use crate::facialmmt::FacialMmtModel;
use crate::maln::MalnModel;
use crate::mm_dfn::MmDfnModel;
use crate::multiemo::MultiEmoModel;

/// How to build one model: its name, presets and constructor.
pub trait ModelFactory {
    /// Registry name (`erc train --model NAME`).
    const NAME: &'static str;
    /// One-line description for `erc models`.
    const DESCRIPTION: &'static str;
    /// The model's configuration, stored in checkpoints as JSON.
    type Config: Serialize + DeserializeOwned + Clone + Debug + Send + 'static;
    /// The model.
    type Model: DialogueModel;

    /// Preset names; the first is the default.
    fn presets() -> &'static [&'static str];

    /// A preset's model configuration and training hyper-parameters.
    fn preset(name: &str) -> Option<(Self::Config, TrainingPreset)>;

    /// Builds a freshly initialised model for a dataset.
    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError>;

    /// Whether the model has an auxiliary face-emotion task ([`ModelFactory::face_emotion_logits`]).
    const HAS_FACE_EMOTION_TASK: bool = false;

    /// Facial-expression logits `[N, C]` of face embeddings `[N, D]`, for models whose
    /// expression head is trained on an auxiliary face-emotion set in alternating epochs
    /// (FacialMMT); `None` for the others.
    fn face_emotion_logits(_model: &Self::Model, _faces: Tensor<2>) -> Option<Tensor<2>> {
        None
    }

    /// A preset, or an error listing the presets there are.
    fn preset_or_error(name: &str) -> Result<(Self::Config, TrainingPreset), ModelError> {
        Self::preset(name).ok_or_else(|| ModelError::UnknownPreset {
            model: Self::NAME.into(),
            preset: name.into(),
            known: Self::presets().join(", "),
        })
    }
}

/// Something to do with a model type chosen at run time by name.
pub trait ModelVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the factory of the model that was named.
    fn visit<F: ModelFactory>(self) -> Self::Output;
}

/// Name, description and presets of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// Registry name.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Preset names, default first.
    pub presets: Vec<&'static str>,
}

fn info<F: ModelFactory>() -> ModelInfo {
    ModelInfo { name: F::NAME, description: F::DESCRIPTION, presets: F::presets().to_vec() }
}

/// Every registered model.
pub fn models() -> Vec<ModelInfo> {
    vec![
        info::<BiGruModel>(),
        info::<MlpModel>(),
        info::<MmDfnModel>(),
        info::<MultiEmoModel>(),
        info::<MalnModel>(),
        info::<FacialMmtModel>(),
    ]
}

/// Runs `visitor` with the factory registered under `name`.
pub fn visit_model<V: ModelVisitor>(name: &str, visitor: V) -> Result<V::Output, ModelError> {
    match name {
        BiGruModel::NAME => Ok(visitor.visit::<BiGruModel>()),
        MlpModel::NAME => Ok(visitor.visit::<MlpModel>()),
        MmDfnModel::NAME => Ok(visitor.visit::<MmDfnModel>()),
        MultiEmoModel::NAME => Ok(visitor.visit::<MultiEmoModel>()),
        MalnModel::NAME => Ok(visitor.visit::<MalnModel>()),
        FacialMmtModel::NAME => Ok(visitor.visit::<FacialMmtModel>()),
        _ => Err(ModelError::UnknownModel {
            name: name.into(),
            known: models().iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl ModelVisitor for Name {
        type Output = &'static str;
        fn visit<F: ModelFactory>(self) -> &'static str {
            F::NAME
        }
    }

    #[test]
    fn every_listed_model_is_visitable_and_has_its_presets() {
        for m in models() {
            assert_eq!(visit_model(m.name, Name).unwrap(), m.name);
            assert!(!m.presets.is_empty());
        }
        let err = visit_model("nope", Name).unwrap_err().to_string();
        assert!(err.contains("bigru"), "{err}");
    }
}
