//! Opening a dataset directory: everything is validated, feature matrices are mapped, not read.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use erc_core::{DataSpec, PAD_LABEL};

use crate::error::DataError;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::matrix::{FeatureMatrix, read_i64_vector};

/// File names inside a dataset directory.
pub mod files {
    /// Dialogue offsets, int64 `[dialogues + 1]`.
    pub const OFFSETS: &str = "offsets.npy";
    /// Speaker index per utterance, int64 `[utterances]`.
    pub const SPEAKERS: &str = "speakers.npy";
    /// Label per utterance, int64 `[utterances]`, -1 = unlabelled.
    pub const LABELS: &str = "labels.npy";
    /// Utterance texts, one JSON string per line.
    pub const TEXT: &str = "text.jsonl";
    /// Directory of the feature matrices.
    pub const FEATURES_DIR: &str = "features";
}

/// One dialogue's place in the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogueInfo {
    /// Index into the dataset's dialogues.
    pub index: usize,
    /// Dialogue id.
    pub id: String,
    /// First utterance (global index).
    pub start: usize,
    /// One past the last utterance.
    pub end: usize,
}

impl DialogueInfo {
    /// Number of utterances.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the dialogue has no utterance (never true for a validated dataset).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// An opened dataset: manifest, small per-utterance vectors in memory, features mapped.
#[derive(Debug)]
pub struct Dataset {
    root: PathBuf,
    manifest: Manifest,
    offsets: Vec<usize>,
    speakers: Vec<i64>,
    labels: Vec<i64>,
    features: BTreeMap<String, FeatureMatrix>,
}

impl Dataset {
    /// Opens and validates a dataset directory. Feature files are memory-mapped: only their
    /// headers are read here.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, DataError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DataError::Missing {
                path: root,
                hint: " (expected a dataset directory containing manifest.json)".into(),
            });
        }
        let manifest = Manifest::read(&root.join(MANIFEST_FILE))?;
        let n_dialogues = manifest.dialogue_ids.len();
        let n_utt = manifest.num_utterances;

        let offsets_path = root.join(files::OFFSETS);
        let raw_offsets = read_i64_vector(&offsets_path)?;
        if raw_offsets.len() != n_dialogues + 1 {
            return Err(DataError::Shape {
                path: offsets_path,
                found: vec![raw_offsets.len()],
                expected: vec![n_dialogues + 1],
            });
        }
        let mut offsets = Vec::with_capacity(raw_offsets.len());
        for (i, &o) in raw_offsets.iter().enumerate() {
            let prev = offsets.last().copied();
            let ok = o >= 0 && (i > 0 || o == 0) && prev.is_none_or(|p: usize| o as usize > p);
            if !ok {
                return Err(DataError::invalid(
                    &offsets_path,
                    format!(
                        "offset {i} is {o}: offsets must start at 0 and strictly increase \
                         (every dialogue needs at least one utterance)"
                    ),
                ));
            }
            offsets.push(o as usize);
        }
        if offsets[n_dialogues] != n_utt {
            return Err(DataError::invalid(
                &offsets_path,
                format!("last offset is {}, but the manifest has {n_utt} utterances", offsets[n_dialogues]),
            ));
        }

        let speakers = read_checked_ids(&root.join(files::SPEAKERS), n_utt, 0, manifest.speakers.len(), "speaker")?;
        let labels = read_checked_ids(&root.join(files::LABELS), n_utt, PAD_LABEL, manifest.classes.len(), "label")?;

        let mut features = BTreeMap::new();
        for m in &manifest.modalities {
            let path = root.join(&m.file);
            let matrix = FeatureMatrix::open(&path)?;
            if matrix.rows() != n_utt || matrix.cols() != m.dim {
                return Err(DataError::Shape {
                    path,
                    found: vec![matrix.rows(), matrix.cols()],
                    expected: vec![n_utt, m.dim],
                });
            }
            features.insert(m.name.clone(), matrix);
        }
        if manifest.has_text && !root.join(files::TEXT).is_file() {
            return Err(DataError::Missing {
                path: root.join(files::TEXT),
                hint: " (the manifest says the dataset has text)".into(),
            });
        }
        Ok(Self { root, manifest, offsets, speakers, labels, features })
    }

    /// The dataset directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Classes, modalities and speaker count, for building models.
    pub fn spec(&self) -> DataSpec {
        self.manifest.spec()
    }

    /// Number of dialogues.
    pub fn num_dialogues(&self) -> usize {
        self.manifest.dialogue_ids.len()
    }

    /// Number of utterances.
    pub fn num_utterances(&self) -> usize {
        self.manifest.num_utterances
    }

    /// One dialogue's id and utterance range.
    pub fn dialogue(&self, index: usize) -> DialogueInfo {
        DialogueInfo {
            index,
            id: self.manifest.dialogue_ids[index].clone(),
            start: self.offsets[index],
            end: self.offsets[index + 1],
        }
    }

    /// Dialogue indices of a split.
    pub fn split(&self, name: &str) -> Result<&[usize], DataError> {
        self.manifest.splits.get(name).map(Vec::as_slice).ok_or_else(|| {
            DataError::NotFound(format!(
                "dataset `{}` has no split `{name}` (splits: {})",
                self.manifest.name,
                self.manifest.splits.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Speaker indices of utterances `start..end`.
    pub fn speakers(&self, start: usize, end: usize) -> &[i64] {
        &self.speakers[start..end]
    }

    /// Labels of utterances `start..end` (-1 = unlabelled).
    pub fn labels(&self, start: usize, end: usize) -> &[i64] {
        &self.labels[start..end]
    }

    /// Whether the dataset has a modality.
    pub fn has_modality(&self, name: &str) -> bool {
        self.features.contains_key(name)
    }

    /// Appends the features of utterances `start..end` of a modality to `out` (row-major).
    pub fn read_features(&self, modality: &str, start: usize, end: usize, out: &mut Vec<f32>) -> Result<(), DataError> {
        let matrix = self.features.get(modality).ok_or_else(|| {
            DataError::NotFound(format!(
                "dataset `{}` has no modality `{modality}` (modalities: {})",
                self.manifest.name,
                self.spec().modality_names().join(", ")
            ))
        })?;
        matrix.read_rows(start, end, modality, out)
    }

    /// Per-class utterance counts over some dialogues (unlabelled utterances are skipped).
    pub fn class_counts(&self, dialogues: &[usize]) -> Vec<usize> {
        let mut counts = vec![0; self.manifest.classes.len()];
        for &d in dialogues {
            let info = self.dialogue(d);
            for &y in self.labels(info.start, info.end) {
                if y >= 0 {
                    counts[y as usize] += 1;
                }
            }
        }
        counts
    }

    /// All utterance texts, in utterance order (requires `has_text`).
    pub fn texts(&self) -> Result<Vec<String>, DataError> {
        let path = self.root.join(files::TEXT);
        let file = std::fs::File::open(&path).map_err(|e| DataError::io(&path, e))?;
        let mut texts = Vec::with_capacity(self.num_utterances());
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| DataError::io(&path, e))?;
            let text: String = serde_json::from_str(&line).map_err(|e| DataError::Input {
                path: path.clone(),
                line: i + 1,
                message: format!("expected a JSON string: {e}"),
            })?;
            texts.push(text);
        }
        if texts.len() != self.num_utterances() {
            return Err(DataError::invalid(
                &path,
                format!("{} lines, but the dataset has {} utterances", texts.len(), self.num_utterances()),
            ));
        }
        Ok(texts)
    }
}

fn read_checked_ids(path: &Path, len: usize, min: i64, bound: usize, what: &str) -> Result<Vec<i64>, DataError> {
    let values = read_i64_vector(path)?;
    if values.len() != len {
        return Err(DataError::Shape { path: path.to_path_buf(), found: vec![values.len()], expected: vec![len] });
    }
    if let Some((i, v)) = values.iter().enumerate().find(|&(_, &v)| v < min || v >= bound as i64) {
        return Err(DataError::invalid(path, format!("utterance {i} has {what} {v}, outside {min}..{bound}")));
    }
    Ok(values)
}
