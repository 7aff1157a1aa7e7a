//! Errors of the text encoder.

use std::path::PathBuf;

use erc_core::import::ImportError;

/// Why a model directory could not be loaded or a text could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A file the model directory must have is absent.
    #[error("{path} not found: {hint}")]
    Missing {
        /// The missing file.
        path: PathBuf,
        /// What the file is and where it comes from.
        hint: String,
    },
    /// A file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON configuration file is malformed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model uses a feature this encoder does not implement.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The tokenizer could not be loaded or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The weights do not fit the configuration.
    #[error("weights in {path}: {source}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// The import error.
        source: ImportError,
    },
    /// Reading transcripts or writing a dataset failed.
    #[error(transparent)]
    Data(#[from] erc_data::DataError),
    /// Bad arguments to an encoding call.
    #[error("{0}")]
    Input(String),
}

impl TextError {
    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Config { path: path.into(), message: message.into() }
    }
}
