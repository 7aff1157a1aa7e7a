//! Building a dataset in memory and writing it atomically.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use erc_core::PAD_LABEL;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::dataset::files;
use crate::error::DataError;
use crate::manifest::{FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, ModalityEntry};
use crate::matrix::{create_zeroed_f32_matrix, write_f32_matrix, write_i64_vector};

/// One dialogue to add to a [`DatasetBuilder`].
#[derive(Debug, Clone, Default)]
pub struct DialogueRecord {
    /// Dialogue id (unique within the dataset).
    pub id: String,
    /// Split name (`train`, `valid`, `test`).
    pub split: String,
    /// Speaker name per utterance.
    pub speakers: Vec<String>,
    /// Label index per utterance; [`PAD_LABEL`] for unlabelled.
    pub labels: Vec<i64>,
    /// Utterance texts, if the dataset carries text.
    pub texts: Option<Vec<String>>,
    /// Features per modality, row-major `[utterances, dim]`.
    pub features: BTreeMap<String, Vec<f32>>,
}

/// Collects dialogues and writes a dataset directory.
#[derive(Debug, Clone)]
pub struct DatasetBuilder {
    name: String,
    source: String,
    classes: Vec<String>,
    modalities: Vec<(String, usize)>,
    speakers: Vec<String>,
    speaker_index: HashMap<String, usize>,
    dialogue_ids: Vec<String>,
    dialogue_index: HashMap<String, usize>,
    splits: BTreeMap<String, Vec<usize>>,
    offsets: Vec<i64>,
    speaker_ids: Vec<i64>,
    labels: Vec<i64>,
    texts: Option<Vec<String>>,
    features: BTreeMap<String, Vec<f32>>,
}

impl DatasetBuilder {
    /// A dataset with these classes (in label-index order) and modalities (`(name, dim)`).
    pub fn new(name: impl Into<String>, classes: Vec<String>, modalities: Vec<(String, usize)>) -> Self {
        let features = modalities.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
        Self {
            name: name.into(),
            source: String::new(),
            classes,
            modalities,
            speakers: Vec::new(),
            speaker_index: HashMap::new(),
            dialogue_ids: Vec::new(),
            dialogue_index: HashMap::new(),
            splits: BTreeMap::new(),
            offsets: vec![0],
            speaker_ids: Vec::new(),
            labels: Vec::new(),
            texts: None,
            features,
        }
    }

    /// Records where the data came from (shown by `erc info`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Fixes the speaker vocabulary's first entries (and their order); others are appended
    /// as they appear.
    pub fn with_speakers(mut self, speakers: &[&str]) -> Self {
        for s in speakers {
            self.speaker_id(s);
        }
        self
    }

    /// Stores utterance texts (every dialogue must then carry `texts`).
    pub fn with_text(mut self) -> Self {
        self.texts = Some(Vec::new());
        self
    }

    fn speaker_id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.speaker_index.get(name) {
            return i;
        }
        self.speakers.push(name.to_string());
        self.speaker_index.insert(name.to_string(), self.speakers.len() - 1);
        self.speakers.len() - 1
    }

    /// Number of dialogues added so far.
    pub fn num_dialogues(&self) -> usize {
        self.dialogue_ids.len()
    }

    /// Number of utterances added so far.
    pub fn num_utterances(&self) -> usize {
        self.labels.len()
    }

    /// Class names.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Adds one dialogue, checking it against the dataset's classes and modalities.
    pub fn add_dialogue(&mut self, record: DialogueRecord) -> Result<(), DataError> {
        let here = PathBuf::from(format!("dialogue `{}`", record.id));
        let n = record.speakers.len();
        if n == 0 {
            return Err(DataError::invalid(here, "has no utterance"));
        }
        if self.dialogue_index.contains_key(&record.id) {
            return Err(DataError::invalid(here, "id appears twice"));
        }
        if record.labels.len() != n {
            return Err(DataError::invalid(here, format!("{n} speakers but {} labels", record.labels.len())));
        }
        let k = self.classes.len() as i64;
        if let Some(y) = record.labels.iter().find(|&&y| y != PAD_LABEL && !(0..k).contains(&y)) {
            return Err(DataError::invalid(here, format!("label {y} is outside 0..{k}")));
        }
        for (name, dim) in &self.modalities {
            let values = record
                .features
                .get(name)
                .ok_or_else(|| DataError::invalid(&here, format!("has no `{name}` features")))?;
            if values.len() != n * dim {
                return Err(DataError::invalid(
                    &here,
                    format!("`{name}` has {} values, expected {n} × {dim}", values.len()),
                ));
            }
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(DataError::invalid(
                    &here,
                    format!("`{name}` has a non-finite value at utterance {}, column {}", pos / dim, pos % dim),
                ));
            }
        }
        if let Some(extra) = record.features.keys().find(|m| !self.modalities.iter().any(|(n, _)| n == *m)) {
            return Err(DataError::invalid(here, format!("has features of unknown modality `{extra}`")));
        }
        match (&mut self.texts, &record.texts) {
            (Some(_), None) => return Err(DataError::invalid(here, "has no texts, but the dataset stores text")),
            (Some(_), Some(t)) if t.len() != n => {
                return Err(DataError::invalid(here, format!("{n} utterances but {} texts", t.len())));
            }
            _ => {}
        }

        let index = self.dialogue_ids.len();
        for s in &record.speakers {
            let id = self.speaker_id(s) as i64;
            self.speaker_ids.push(id);
        }
        self.labels.extend_from_slice(&record.labels);
        if let (Some(all), Some(t)) = (&mut self.texts, record.texts) {
            all.extend(t);
        }
        for (name, values) in record.features {
            self.features.get_mut(&name).expect("checked above").extend(values);
        }
        self.offsets.push(self.offsets[index] + n as i64);
        self.dialogue_index.insert(record.id.clone(), index);
        self.dialogue_ids.push(record.id);
        self.splits.entry(record.split).or_default().push(index);
        Ok(())
    }

    /// Where a dataset has no `valid` split, moves a seeded share of `train` dialogues (at
    /// least one) to a new `valid` split. Returns how many moved.
    pub fn hold_out_valid(&mut self, share: f64, seed: u64) -> Result<usize, DataError> {
        if self.splits.contains_key("valid") {
            return Ok(0);
        }
        if !(0.0..1.0).contains(&share) {
            return Err(DataError::invalid("valid share", format!("{share} is not in [0, 1)")));
        }
        let train = self.splits.get_mut("train").ok_or_else(|| {
            DataError::NotFound("cannot hold out a validation split: there is no `train` split".into())
        })?;
        if train.len() < 2 {
            return Err(DataError::NotFound(
                "cannot hold out a validation split from fewer than 2 training dialogues".into(),
            ));
        }
        let count = ((train.len() as f64 * share).round() as usize).clamp(1, train.len() - 1);
        let mut shuffled = train.clone();
        shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let mut valid: Vec<usize> = shuffled[..count].to_vec();
        valid.sort_unstable();
        train.retain(|d| valid.binary_search(d).is_err());
        self.splits.insert("valid".into(), valid);
        Ok(count)
    }

    /// The manifest this builder would write.
    pub fn manifest(&self) -> Manifest {
        self.manifest_with(None)
    }

    /// The manifest, with one more modality (`(name, dim)`, filled by a stream) and text when
    /// `streamed` is given.
    fn manifest_with(&self, streamed: Option<(&str, usize)>) -> Manifest {
        let modalities = self.modalities.iter().map(|(n, d)| (n.as_str(), *d)).chain(streamed);
        Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            name: self.name.clone(),
            source: self.source.clone(),
            classes: self.classes.clone(),
            modalities: modalities
                .map(|(name, dim)| ModalityEntry {
                    name: name.to_string(),
                    dim,
                    file: format!("{}/{name}.npy", files::FEATURES_DIR),
                })
                .collect(),
            speakers: self.speakers.clone(),
            dialogue_ids: self.dialogue_ids.clone(),
            num_utterances: self.labels.len(),
            splits: self.splits.clone(),
            has_text: self.texts.is_some() || streamed.is_some(),
        }
    }

    /// Writes the dataset to `dir`, which must not exist or be empty.
    ///
    /// Files go to a temporary sibling directory that is renamed into place at the end, so an
    /// interrupted write never leaves a directory that looks like a complete dataset.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<(), DataError> {
        self.write_staged(dir.as_ref(), None, |_| Ok(()))
    }

    /// Writes the dataset plus one feature modality `modality` (`dim` wide) and the utterance
    /// texts, both computed while writing: `fill` receives a [`RowSink`] and must push every
    /// utterance's row and text, in dataset order. Only the skeleton (labels, speakers, splits)
    /// and one block of rows are ever in memory. Atomic like [`DatasetBuilder::write`]: an
    /// error or an interruption leaves no directory at `dir`.
    pub fn write_streaming<E: From<DataError>>(
        &self,
        dir: impl AsRef<Path>,
        modality: &str,
        dim: usize,
        fill: impl FnOnce(&mut RowSink) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.modalities.iter().any(|(m, _)| m == modality) {
            return Err(
                DataError::invalid(dir.as_ref(), format!("the dataset already has a `{modality}` modality")).into()
            );
        }
        if self.texts.is_some() {
            return Err(DataError::invalid(dir.as_ref(), "texts are streamed: build the skeleton without text").into());
        }
        self.write_staged(dir.as_ref(), Some((modality, dim)), |root| {
            let mut sink = RowSink::create(root, modality, self.labels.len(), dim)?;
            fill(&mut sink)?;
            sink.finish().map_err(E::from)
        })
    }

    fn write_staged<E: From<DataError>>(
        &self,
        dir: &Path,
        streamed: Option<(&str, usize)>,
        fill: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        ensure_writable_target(dir)?;
        if self.dialogue_ids.is_empty() {
            return Err(DataError::invalid(dir, "refusing to write a dataset with no dialogue").into());
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        let file_name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
        let staging = parent.join(format!(".{file_name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
        }
        let result =
            self.write_files(&staging, streamed).map_err(E::from).and_then(|()| fill(&staging)).and_then(|()| {
                if dir.exists() {
                    // empty (checked above): replace it
                    std::fs::remove_dir(dir).map_err(|e| DataError::io(dir, e))?;
                }
                std::fs::rename(&staging, dir).map_err(|e| DataError::io(dir, e).into())
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    fn write_files(&self, root: &Path, streamed: Option<(&str, usize)>) -> Result<(), DataError> {
        let features_dir = root.join(files::FEATURES_DIR);
        std::fs::create_dir_all(&features_dir).map_err(|e| DataError::io(&features_dir, e))?;
        write_i64_vector(&root.join(files::OFFSETS), &self.offsets)?;
        write_i64_vector(&root.join(files::SPEAKERS), &self.speaker_ids)?;
        write_i64_vector(&root.join(files::LABELS), &self.labels)?;
        let n = self.labels.len();
        for (name, dim) in &self.modalities {
            write_f32_matrix(&features_dir.join(format!("{name}.npy")), n, *dim, &self.features[name])?;
        }
        if let Some(texts) = &self.texts {
            let mut out = TextWriter::create(root)?;
            for t in texts {
                out.push(t)?;
            }
            out.finish()?;
        }
        let manifest_path = root.join(MANIFEST_FILE);
        let json = serde_json::to_string_pretty(&self.manifest_with(streamed)).expect("manifest serialises");
        std::fs::write(&manifest_path, json + "\n").map_err(|e| DataError::io(&manifest_path, e))
    }
}

/// `text.jsonl`, one JSON string per utterance, written line by line.
struct TextWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl TextWriter {
    fn create(root: &Path) -> Result<Self, DataError> {
        let path = root.join(files::TEXT);
        let file = File::create(&path).map_err(|e| DataError::io(&path, e))?;
        Ok(Self { out: BufWriter::new(file), path })
    }

    fn push(&mut self, text: &str) -> Result<(), DataError> {
        let line = serde_json::to_string(text).expect("strings serialise");
        writeln!(self.out, "{line}").map_err(|e| DataError::io(&self.path, e))
    }

    fn finish(mut self) -> Result<(), DataError> {
        self.out.flush().map_err(|e| DataError::io(&self.path, e))
    }
}

/// Receives one feature modality's rows and the texts, utterance by utterance in dataset
/// order, while [`DatasetBuilder::write_streaming`] writes a dataset.
pub struct RowSink {
    path: PathBuf,
    matrix: BufWriter<File>,
    text: TextWriter,
    rows: usize,
    dim: usize,
    written: usize,
}

impl RowSink {
    fn create(root: &Path, modality: &str, rows: usize, dim: usize) -> Result<Self, DataError> {
        let path = root.join(files::FEATURES_DIR).join(format!("{modality}.npy"));
        // the header for [rows, dim], then the rows in order
        create_zeroed_f32_matrix(&path, rows, dim)?;
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| DataError::io(&path, e))?;
        let len = file.metadata().map_err(|e| DataError::io(&path, e))?.len();
        let header = len - (rows * dim * 4) as u64;
        file.seek(SeekFrom::Start(header)).map_err(|e| DataError::io(&path, e))?;
        Ok(Self { matrix: BufWriter::new(file), text: TextWriter::create(root)?, path, rows, dim, written: 0 })
    }

    /// Utterances still expected.
    pub fn remaining(&self) -> usize {
        self.rows - self.written
    }

    /// Appends utterances: `values` holds `texts.len()` rows of the modality's width.
    pub fn push(&mut self, values: &[f32], texts: &[&str]) -> Result<(), DataError> {
        let n = texts.len();
        if values.len() != n * self.dim {
            return Err(DataError::invalid(
                &self.path,
                format!("{} values for {n} rows of {}", values.len(), self.dim),
            ));
        }
        if n > self.remaining() {
            return Err(DataError::invalid(
                &self.path,
                format!("more rows than the dataset's {} utterances", self.rows),
            ));
        }
        if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::invalid(
                &self.path,
                format!("non-finite value at utterance {}, column {}", self.written + pos / self.dim, pos % self.dim),
            ));
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.matrix.write_all(&bytes).map_err(|e| DataError::io(&self.path, e))?;
        for t in texts {
            self.text.push(t)?;
        }
        self.written += n;
        Ok(())
    }

    fn finish(mut self) -> Result<(), DataError> {
        if self.written != self.rows {
            return Err(DataError::invalid(&self.path, format!("{} of {} rows written", self.written, self.rows)));
        }
        self.matrix.flush().map_err(|e| DataError::io(&self.path, e))?;
        self.text.finish()
    }
}

/// Fails when `path` exists and is a file or a non-empty directory.
pub fn ensure_writable_target(path: &Path) -> Result<(), DataError> {
    if !path.exists() {
        return Ok(());
    }
    let empty_dir = path.is_dir() && std::fs::read_dir(path).map_err(|e| DataError::io(path, e))?.next().is_none();
    if empty_dir { Ok(()) } else { Err(DataError::WouldOverwrite { path: path.to_path_buf() }) }
}
