//! Errors of model construction and use.

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
