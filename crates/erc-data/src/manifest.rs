//! `manifest.json`: the dataset's self-description.

use std::collections::BTreeMap;
use std::path::Path;

use erc_core::{DataSpec, ModalityDim};
use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// The value of [`Manifest::format`].
pub const FORMAT_NAME: &str = "erc-dataset";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One modality: its name, feature dimension and matrix file (relative to the dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModalityEntry {
    /// Modality name (`text`, `audio`, `visual`, ...).
    pub name: String,
    /// Feature dimension.
    pub dim: usize,
    /// Path of the `[utterances, dim]` float32 `.npy` file, relative to the dataset.
    pub file: String,
}

/// The dataset description stored as `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Dataset name.
    pub name: String,
    /// Free-text provenance (generator, converter, source file).
    #[serde(default)]
    pub source: String,
    /// Class names in label-index order.
    pub classes: Vec<String>,
    /// Feature modalities.
    pub modalities: Vec<ModalityEntry>,
    /// Speaker vocabulary; `speakers.npy` holds indices into it.
    pub speakers: Vec<String>,
    /// Dialogue ids, in storage order.
    pub dialogue_ids: Vec<String>,
    /// Total number of utterances.
    pub num_utterances: usize,
    /// Split name → dialogue indices (into `dialogue_ids`).
    pub splits: BTreeMap<String, Vec<usize>>,
    /// Whether `text.jsonl` holds the utterance texts.
    #[serde(default)]
    pub has_text: bool,
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing {
                    path: path.to_path_buf(),
                    hint: "; is this an erc dataset directory? (make one with `erc synth` or `erc import`)".into(),
                }
            } else {
                DataError::io(path, e)
            }
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| DataError::Manifest { path: path.to_path_buf(), message: e.to_string() })?;
        manifest.check(path)?;
        Ok(manifest)
    }

    /// Checks the manifest's internal consistency (not the files).
    pub fn check(&self, path: &Path) -> Result<(), DataError> {
        let bad = |message: String| DataError::Manifest { path: path.to_path_buf(), message };
        if self.format != FORMAT_NAME {
            return Err(bad(format!("format is `{}`, expected `{FORMAT_NAME}`", self.format)));
        }
        if self.version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                self.version
            )));
        }
        if self.classes.is_empty() {
            return Err(bad("no classes".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.modalities {
            if m.dim == 0 {
                return Err(bad(format!("modality `{}` has dimension 0", m.name)));
            }
            if !seen.insert(&m.name) {
                return Err(bad(format!("modality `{}` is listed twice", m.name)));
            }
        }
        let n = self.dialogue_ids.len();
        for (split, ids) in &self.splits {
            if let Some(&d) = ids.iter().find(|&&d| d >= n) {
                return Err(bad(format!("split `{split}` names dialogue {d}, but there are {n}")));
            }
        }
        Ok(())
    }

    /// The facts a model is built from.
    pub fn spec(&self) -> DataSpec {
        DataSpec {
            classes: self.classes.clone(),
            modalities: self.modalities.iter().map(|m| ModalityDim { name: m.name.clone(), dim: m.dim }).collect(),
            num_speakers: self.speakers.len().max(1),
            train_class_counts: None,
        }
    }
}
