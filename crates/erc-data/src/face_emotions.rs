//! The auxiliary face-emotion set: face embeddings with a facial-expression label, on which
//! FacialMMT's facial-expression head is trained (the reference uses Aff-Wild2's EXPR track).
//!
//! On disk, a directory:
//!
//! | file | content |
//! |---|---|
//! | `face_emotions.json` | `{"format": "erc-face-emotions", "version": 1, "classes": [...], "dim": D, "count": N, "source": "..."}` |
//! | `embeddings.npy` | float32 `[N, D]`, one face embedding per row (the embedder of the main dataset's `faces`) |
//! | `labels.npy` | int64 `[N]`, class indices into `classes` (MELD's order) |
//!
//! Aff-Wild2's expression ids map to MELD's class order with [`affwild2_to_meld`]; frames
//! labelled −1 or `Other` (7) are dropped.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::matrix::{read_i64_vector, write_f32_matrix, write_i64_vector};
use crate::transcripts::MELD_CLASSES;
use crate::writer::ensure_writable_target;

/// The manifest's `format` value.
pub const FACE_EMOTIONS_FORMAT: &str = "erc-face-emotions";
const MANIFEST: &str = "face_emotions.json";
const EMBEDDINGS: &str = "embeddings.npy";
const LABELS: &str = "labels.npy";

/// Maps an Aff-Wild2 (ABAW3 EXPR) expression id to MELD's class index: Neutral 0 → 0,
/// Anger 1 → 6, Disgust 2 → 5, Fear 3 → 2, Happiness 4 → 4 (joy), Sadness 5 → 3,
/// Surprise 6 → 1. `None` for −1 (unlabelled) and 7 (Other), which the reference drops.
pub fn affwild2_to_meld(id: i64) -> Option<usize> {
    match id {
        0 => Some(0),
        1 => Some(6),
        2 => Some(5),
        3 => Some(2),
        4 => Some(4),
        5 => Some(3),
        6 => Some(1),
        _ => None,
    }
}

/// The manifest of a face-emotion set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceEmotionManifest {
    /// Always [`FACE_EMOTIONS_FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Class names in label-index order.
    pub classes: Vec<String>,
    /// Embedding width.
    pub dim: usize,
    /// Number of faces.
    pub count: usize,
    /// Where the faces came from.
    #[serde(default)]
    pub source: String,
}

/// Face embeddings with expression labels, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEmotionSet {
    /// Class names in label-index order.
    pub classes: Vec<String>,
    /// Embedding width.
    pub dim: usize,
    /// `[N, dim]` row-major.
    pub embeddings: Vec<f32>,
    /// `[N]` class indices.
    pub labels: Vec<i64>,
    /// Where the faces came from.
    pub source: String,
}

impl FaceEmotionSet {
    /// A set in MELD's class order; checks shapes, labels and values.
    pub fn new(
        dim: usize,
        embeddings: Vec<f32>,
        labels: Vec<i64>,
        source: impl Into<String>,
    ) -> Result<Self, DataError> {
        let set = Self {
            classes: MELD_CLASSES.iter().map(|c| c.to_string()).collect(),
            dim,
            embeddings,
            labels,
            source: source.into(),
        };
        set.check(Path::new("face-emotion set"))?;
        Ok(set)
    }

    /// Number of faces.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no face.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// One face's embedding.
    pub fn embedding(&self, i: usize) -> &[f32] {
        &self.embeddings[i * self.dim..(i + 1) * self.dim]
    }

    fn check(&self, path: &Path) -> Result<(), DataError> {
        let bad = |m: String| DataError::invalid(path, m);
        if self.dim == 0 || self.embeddings.len() != self.labels.len() * self.dim {
            return Err(bad(format!(
                "{} embedding values for {} faces of width {}",
                self.embeddings.len(),
                self.labels.len(),
                self.dim
            )));
        }
        if let Some((i, y)) =
            self.labels.iter().enumerate().find(|(_, y)| **y < 0 || **y as usize >= self.classes.len())
        {
            return Err(bad(format!("face {i} has label {y}; the classes are 0..{}", self.classes.len())));
        }
        if let Some(i) = self.embeddings.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("face {} has a non-finite embedding value", i / self.dim)));
        }
        Ok(())
    }

    /// Writes the set to a new directory (refuses to overwrite a non-empty one).
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        ensure_writable_target(dir)?;
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        write_f32_matrix(&dir.join(EMBEDDINGS), self.len(), self.dim, &self.embeddings)?;
        write_i64_vector(&dir.join(LABELS), &self.labels)?;
        let manifest = FaceEmotionManifest {
            format: FACE_EMOTIONS_FORMAT.into(),
            version: 1,
            classes: self.classes.clone(),
            dim: self.dim,
            count: self.len(),
            source: self.source.clone(),
        };
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
        std::fs::write(&path, text).map_err(|e| DataError::io(path, e))
    }

    /// Reads and checks a set written by [`FaceEmotionSet::write`] (or by hand in that format).
    pub fn read(dir: &Path) -> Result<Self, DataError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing {
                    path: path.clone(),
                    hint: "a face-emotion set directory (face_emotions.json, embeddings.npy, labels.npy)".into(),
                }
            } else {
                DataError::io(&path, e)
            }
        })?;
        let manifest: FaceEmotionManifest =
            serde_json::from_str(&text).map_err(|e| DataError::invalid(&path, e.to_string()))?;
        if manifest.format != FACE_EMOTIONS_FORMAT || manifest.version != 1 {
            return Err(DataError::invalid(
                &path,
                format!(
                    "format `{}` version {}: expected {FACE_EMOTIONS_FORMAT} version 1",
                    manifest.format, manifest.version
                ),
            ));
        }
        let emb_path: PathBuf = dir.join(EMBEDDINGS);
        let file = std::fs::File::open(&emb_path).map_err(|e| DataError::io(&emb_path, e))?;
        let matrix = Array2::<f32>::read_npy(std::io::BufReader::new(file)).map_err(|e| DataError::Npy {
            path: emb_path.clone(),
            message: format!("not a 2-D float32 matrix: {e}"),
        })?;
        if matrix.ncols() != manifest.dim || matrix.nrows() != manifest.count {
            return Err(DataError::invalid(
                &emb_path,
                format!("shape {:?}, the manifest says [{}, {}]", matrix.shape(), manifest.count, manifest.dim),
            ));
        }
        let set = Self {
            classes: manifest.classes,
            dim: manifest.dim,
            embeddings: matrix.iter().copied().collect(),
            labels: read_i64_vector(&dir.join(LABELS))?,
            source: manifest.source,
        };
        set.check(dir)?;
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affwild2_ids_map_to_meld_order_and_other_is_dropped() {
        let names: Vec<Option<&str>> = (-1..=7).map(|id| affwild2_to_meld(id).map(|c| MELD_CLASSES[c])).collect();
        assert_eq!(
            names,
            [
                None,
                Some("neutral"),
                Some("anger"),
                Some("disgust"),
                Some("fear"),
                Some("joy"),
                Some("sadness"),
                Some("surprise"),
                None
            ]
        );
    }

    #[test]
    fn round_trip_and_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let set = FaceEmotionSet::new(2, vec![0.5, 1.0, -1.0, 2.0], vec![3, 0], "test").unwrap();
        set.write(&dir.path().join("faces")).unwrap();
        assert_eq!(FaceEmotionSet::read(&dir.path().join("faces")).unwrap(), set);
        assert!(matches!(set.write(&dir.path().join("faces")), Err(DataError::WouldOverwrite { .. })));
        assert!(FaceEmotionSet::new(2, vec![0.0; 4], vec![7, 0], "x").unwrap_err().to_string().contains("label 7"));
        assert!(FaceEmotionSet::new(2, vec![f32::NAN; 4], vec![1, 0], "x").is_err());
        assert!(FaceEmotionSet::new(2, vec![0.0; 3], vec![1, 0], "x").is_err());
        let err = FaceEmotionSet::read(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("face_emotions.json"), "{err}");
    }
}
