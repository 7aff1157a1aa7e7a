//! Errors of dataset reading and writing.

use std::path::PathBuf;

/// Everything that can go wrong with a dataset on disk or in memory.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O operation on a path failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A required file is missing.
    #[error("{path} does not exist{hint}")]
    Missing {
        /// The missing file.
        path: PathBuf,
        /// Extra advice, starting with a separator, or empty.
        hint: String,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("{path}: invalid manifest: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An `.npy` file could not be read or has the wrong type or layout.
    #[error("{path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file's shape disagrees with the manifest.
    #[error("{path}: shape {found:?} disagrees with the manifest, which implies {expected:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The shape on disk.
        found: Vec<usize>,
        /// The shape the manifest implies.
        expected: Vec<usize>,
    },
    /// The contents are inconsistent (offsets, ids, labels out of range...).
    #[error("{path}: {message}")]
    Invalid {
        /// The file (or dataset directory).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A feature value is NaN or infinite.
    #[error(
        "modality `{modality}` has a non-finite value ({value}) at utterance {utterance}, \
         column {column} ({path})"
    )]
    NonFinite {
        /// The feature file.
        path: PathBuf,
        /// The modality.
        modality: String,
        /// Global utterance index.
        utterance: usize,
        /// Feature column.
        column: usize,
        /// The value found.
        value: f32,
    },
    /// An input line could not be parsed or names something unknown.
    #[error("{path}:{line}: {message}")]
    Input {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A split or modality was asked for that the dataset lacks.
    #[error("{0}")]
    NotFound(String),
    /// The output path exists and would be overwritten.
    #[error("{path} already exists and is not empty; choose another path or remove it first")]
    WouldOverwrite {
        /// The existing path.
        path: PathBuf,
    },
    /// Tensor construction failed (shape bug or device error).
    #[error("building batch tensors: {0}")]
    Tensor(String),
}

impl DataError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// An inconsistency in a file.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Invalid { path: path.into(), message: message.into() }
    }
}
