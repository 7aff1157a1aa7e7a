//! Errors of training and evaluation.

use std::path::PathBuf;

use erc_core::{BackendError, ModelError};
use erc_data::DataError;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model could not be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The backend is unknown or not compiled in.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A model configuration could not be (de)serialised.
    #[error("model configuration: {0}")]
    Config(String),
    /// The loss became NaN or infinite.
    #[error(
        "the training loss became {value} at epoch {epoch}, batch {batch}; lower the learning rate or check the features"
    )]
    NonFiniteLoss {
        /// Epoch (1-based).
        epoch: usize,
        /// Batch within the epoch (1-based).
        batch: usize,
        /// The value.
        value: f32,
    },
    /// The model produced no loss term on labelled data.
    #[error("model `{0}` returned no loss term for a labelled batch")]
    NoLoss(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, unreadable or does not fit.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The output directory already holds a run.
    #[error("{0} already holds a run; pass --resume to continue it, or choose another --out")]
    RunExists(PathBuf),
    /// Metrics could not be computed.
    #[error(transparent)]
    Metrics(#[from] erc_core::metrics::MetricsError),
}

impl TrainError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
