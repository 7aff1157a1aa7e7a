//! The model registry: the one file that names every model. Everything that picks a model at
//! run time — the trainer, evaluation, prediction, the benches, the CLI, the parity runner —
//! goes through the two enums here:
//!
//! * [`ModelConfig`]: a registered model's typed configuration (serialised as
//!   `{"model": NAME, "model_config": {...}}`), from a preset, JSON or a checkpoint;
//! * [`AnyModel`]: a built model of any registered kind, a burn [`Module`] and a
//!   [`DialogueModel`].
//!
//! Adding a model: give it a folder with a [`ModelFactory`], and add one line to the
//! `registry!` invocation below.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use erc_core::training::TrainingPreset;
use erc_core::{
    BackendKind, Capabilities, DataSpec, DialogueBatch, DialogueModel, ModelError, ModelFactory, ModelOutput,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::baseline::{BiGruBaseline, BiGruModel, MlpBaseline, MlpModel};
use crate::facialmmt::{FacialMmt, FacialMmtModel};
use crate::maln::{Maln, MalnModel};
use crate::mm_dfn::{MmDfn, MmDfnModel};
use crate::multiemo::{MultiEmo, MultiEmoModel};
use crate::parity::{Fixture, ParityError, ParityReport};

/// Name, description, presets and capabilities of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// Registry name.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Preset names, default first.
    pub presets: Vec<&'static str>,
    /// What the model needs and which extra tasks it has.
    #[serde(skip)]
    pub capabilities: Capabilities,
}

fn info<F: ModelFactory>() -> ModelInfo {
    ModelInfo { name: F::NAME, description: F::DESCRIPTION, presets: F::preset_names(), capabilities: F::CAPABILITIES }
}

/// Builds `F`'s configuration from JSON, naming the model in the error.
fn config_from_json<F: ModelFactory>(json: serde_json::Value) -> Result<F::Config, ModelError> {
    serde_json::from_value(json)
        .map_err(|e| ModelError::InvalidConfig(format!("model `{}` configuration: {e}", F::NAME)))
}

/// `F`'s preset `preset` (`None`: the first): configuration, name and training settings.
fn pick<F: ModelFactory>(preset: Option<&str>) -> Result<(F::Config, &'static str, TrainingPreset), ModelError> {
    let preset = match preset {
        Some(name) => F::find_preset(name)?,
        None => &F::PRESETS[0],
    };
    let (config, training) = (preset.make)();
    Ok((config, preset.name, training))
}

/// Generates the two enums and their dispatch from one list of `Variant(factory, model)`.
macro_rules! registry {
    ($($variant:ident($factory:ty, $model:ty)),+ $(,)?) => {
        /// A registered model's typed configuration.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ModelConfig {
            $(
                #[doc = concat!("`", stringify!($factory), "`'s configuration.")]
                $variant(<$factory as ModelFactory>::Config),
            )+
        }

        /// A built model of any registered kind.
        #[derive(Module, Debug)]
        pub enum AnyModel {
            $(
                #[doc = concat!("A [`", stringify!($model), "`].")]
                $variant($model),
            )+
        }

        /// Every registered model.
        pub fn models() -> Vec<ModelInfo> {
            vec![$(info::<$factory>()),+]
        }

        impl ModelConfig {
            /// The registry name of the model this configures.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$factory as ModelFactory>::NAME,)+
                }
            }

            /// What the model needs and which extra tasks it has.
            pub fn capabilities(&self) -> Capabilities {
                match self {
                    $(Self::$variant(_) => <$factory as ModelFactory>::CAPABILITIES,)+
                }
            }

            /// The configuration as JSON (the `model_config` of run configs and checkpoints).
            pub fn to_json(&self) -> serde_json::Value {
                match self {
                    $(Self::$variant(c) => serde_json::to_value(c).expect("configurations serialise"),)+
                }
            }

            /// The configuration of the model registered as `name`, from JSON.
            pub fn from_json(name: &str, json: serde_json::Value) -> Result<Self, ModelError> {
                match name {
                    $(<$factory as ModelFactory>::NAME => {
                        Ok(Self::$variant(config_from_json::<$factory>(json)?))
                    })+
                    _ => Err(unknown_model(name)),
                }
            }

            /// A preset of the model registered as `name`: its configuration and training
            /// settings. `preset: None` takes the model's default (first) preset.
            pub fn preset(
                name: &str,
                preset: Option<&str>,
            ) -> Result<(Self, &'static str, TrainingPreset), ModelError> {
                match name {
                    $(<$factory as ModelFactory>::NAME => {
                        let (config, preset, training) = pick::<$factory>(preset)?;
                        Ok((Self::$variant(config), preset, training))
                    })+
                    _ => Err(unknown_model(name)),
                }
            }

            /// Builds a freshly initialised model for a dataset.
            pub fn build(&self, spec: &DataSpec, device: &Device) -> Result<AnyModel, ModelError> {
                match self {
                    $(Self::$variant(c) => {
                        Ok(AnyModel::$variant(<$factory as ModelFactory>::build(c, spec, device)?))
                    })+
                }
            }
        }

        impl AnyModel {
            /// Facial-expression logits `[N, C]` of face embeddings `[N, D]` for a model with
            /// the face-emotion task; `None` for the others.
            pub fn face_emotion_logits(&self, faces: Tensor<2>) -> Option<Tensor<2>> {
                match self {
                    $(Self::$variant(m) => <$factory as ModelFactory>::face_emotion_logits(m, faces),)+
                }
            }

            /// Writes the weights (burnpack) as the model itself would: the file is the same as
            /// the concrete model's `save_file`.
            pub fn save_weights(&self, path: &Path) -> Result<(), String> {
                match self {
                    $(Self::$variant(m) => m.clone().save_file(path).map_err(|e| format!("{e:?}")),)+
                }
            }

            /// Loads weights written by [`AnyModel::save_weights`] into this model.
            pub fn load_weights(self, path: &Path) -> Result<Self, String> {
                match self {
                    $(Self::$variant(m) => m.try_load_file(path).map(Self::$variant).map_err(|e| format!("{e:?}")),)+
                }
            }
        }

        impl DialogueModel for AnyModel {
            fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
                match self {
                    $(Self::$variant(m) => m.forward(batch),)+
                }
            }
        }
    };
}

registry! {
    BiGru(BiGruModel, BiGruBaseline),
    Mlp(MlpModel, MlpBaseline),
    MmDfn(MmDfnModel, MmDfn),
    MultiEmo(MultiEmoModel, MultiEmo),
    Maln(MalnModel, Maln),
    FacialMmt(FacialMmtModel, FacialMmt),
}

fn unknown_model(name: &str) -> ModelError {
    ModelError::UnknownModel {
        name: name.into(),
        known: models().iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    }
}

impl ModelConfig {
    /// This configuration with the fields of a JSON object replaced (`{"hidden": 64}` changes
    /// one field); a field the configuration does not have is an error that lists the fields.
    pub fn with_overrides(&self, patch: &serde_json::Value) -> Result<Self, ModelError> {
        let mut json = self.to_json();
        let (Some(target), Some(patch)) = (json.as_object_mut(), patch.as_object()) else {
            return Err(ModelError::InvalidConfig("model configuration overrides must be a JSON object".into()));
        };
        for (k, v) in patch {
            if !target.contains_key(k) {
                return Err(ModelError::InvalidConfig(format!(
                    "model `{}` has no configuration field `{k}` (fields: {})",
                    self.name(),
                    target.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            target.insert(k.clone(), v.clone());
        }
        Self::from_json(self.name(), json)
    }
}

/// The serialised form: the registry name beside the configuration.
#[derive(Serialize, Deserialize)]
struct TaggedConfig {
    model: String,
    model_config: serde_json::Value,
}

impl Serialize for ModelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TaggedConfig { model: self.name().into(), model_config: self.to_json() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tagged = TaggedConfig::deserialize(deserializer)?;
        Self::from_json(&tagged.model, tagged.model_config).map_err(serde::de::Error::custom)
    }
}

/// Runs the parity check of the fixture at `path` (its `.safetensors` file) on `backend`,
/// with the parity run of the model the fixture names.
pub fn run_parity(path: &Path, backend: BackendKind) -> Result<ParityReport, ParityError> {
    type Run = fn(&Fixture, BackendKind) -> Result<ParityReport, ParityError>;
    let runs: [(&str, Run); 4] = [
        (FacialMmtModel::NAME, crate::facialmmt::reference::parity::parity),
        (MalnModel::NAME, crate::maln::reference::parity::parity),
        (MmDfnModel::NAME, crate::mm_dfn::reference::parity::parity),
        (MultiEmoModel::NAME, crate::multiemo::reference::parity::parity),
    ];
    let fixture = Fixture::open(path)?;
    match runs.iter().find(|(name, _)| *name == fixture.model()) {
        Some((_, run)) => run(&fixture, backend),
        None => Err(ParityError::UnknownModel {
            name: fixture.model().to_string(),
            known: runs.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_model_has_its_presets_and_round_trips_through_json() {
        for m in models() {
            assert!(!m.presets.is_empty());
            for preset in &m.presets {
                let (config, name, _) = ModelConfig::preset(m.name, Some(preset)).unwrap();
                assert_eq!(name, *preset);
                assert_eq!(config.name(), m.name);
                let json = serde_json::to_value(&config).unwrap();
                assert_eq!(json["model"], m.name);
                assert_eq!(serde_json::from_value::<ModelConfig>(json).unwrap(), config);
            }
            let (_, default, _) = ModelConfig::preset(m.name, None).unwrap();
            assert_eq!(default, m.presets[0]);
        }
        let err = ModelConfig::preset("nope", None).unwrap_err().to_string();
        assert!(err.contains("bigru"), "{err}");
        let err = ModelConfig::preset("maln", Some("nope")).unwrap_err().to_string();
        assert!(err.contains("iemocap, meld"), "{err}");
    }

    #[test]
    fn overrides_change_known_fields_and_refuse_unknown_ones() {
        let (config, _, _) = ModelConfig::preset("bigru", None).unwrap();
        let changed = config.with_overrides(&serde_json::json!({"hidden": 7})).unwrap();
        assert_eq!(changed.to_json()["hidden"], 7);
        let err = config.with_overrides(&serde_json::json!({"hiden": 7})).unwrap_err().to_string();
        assert!(err.contains("hiden") && err.contains("hidden"), "{err}");
        assert!(config.with_overrides(&serde_json::json!({"hidden": "x"})).is_err());
    }
}
