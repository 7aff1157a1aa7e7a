//! Import of JSONL transcripts: `{id, split, utterances: [{speaker, text, emotion, ...}]}`,
//! one dialogue per line, into a dataset skeleton (labels, speakers, splits, text; no
//! feature modality yet — a feature extractor fills those later).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use erc_core::PAD_LABEL;
use serde::Deserialize;

use crate::error::DataError;
use crate::writer::{DatasetBuilder, DialogueRecord};

/// IEMOCAP's 6 classes in the index order the reference models use.
pub const IEMOCAP_CLASSES: [&str; 6] = ["hap", "sad", "neu", "ang", "exc", "fru"];
/// MELD's 7 classes in the index order the reference models use.
pub const MELD_CLASSES: [&str; 7] = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"];

/// One utterance of a transcript line. Unknown fields (e.g. `sentiment`) are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct TranscriptUtterance {
    /// Speaker name.
    pub speaker: String,
    /// Utterance text.
    pub text: String,
    /// Emotion label; absent or null for unlabelled utterances.
    #[serde(default)]
    pub emotion: Option<String>,
}

/// One transcript line: a dialogue.
#[derive(Debug, Clone, Deserialize)]
pub struct TranscriptDialogue {
    /// Dialogue id.
    pub id: String,
    /// Split name; absent for unlabelled input.
    #[serde(default)]
    pub split: Option<String>,
    /// The utterances in order.
    pub utterances: Vec<TranscriptUtterance>,
}

/// How to import transcripts.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Dataset name (default: the file stem).
    pub name: Option<String>,
    /// Class names in index order. `None`: IEMOCAP's or MELD's order when the labels fit
    /// one of them, otherwise the sorted label set.
    pub classes: Option<Vec<String>>,
    /// Split for lines without one (`None`: such a line is an error).
    pub default_split: Option<String>,
    /// Share of training dialogues held out as `valid` when the file has no validation split.
    pub valid_share: f64,
    /// Seed of that hold-out.
    pub seed: u64,
    /// Keep the utterance texts in the builder (`text.jsonl`). A featurizer that streams the
    /// texts itself turns this off so memory stays flat.
    pub keep_text: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { name: None, classes: None, default_split: None, valid_share: 0.1, seed: 0, keep_text: true }
    }
}

/// Reads a JSONL transcript file, one dialogue per non-blank line, into memory.
pub fn read_transcripts(path: &Path) -> Result<Vec<(usize, TranscriptDialogue)>, DataError> {
    let mut dialogues = Vec::new();
    for_each_transcript(path, |line, d| {
        dialogues.push((line, d));
        Ok::<(), DataError>(())
    })?;
    Ok(dialogues)
}

/// Streams a JSONL transcript file: calls `visit(line_number, dialogue)` for each dialogue in
/// file order, holding one line at a time. Returns the number of dialogues.
pub fn for_each_transcript<E: From<DataError>>(
    path: &Path,
    visit: impl FnMut(usize, TranscriptDialogue) -> Result<(), E>,
) -> Result<usize, E> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing { path: path.to_path_buf(), hint: String::new() }
        } else {
            DataError::io(path, e)
        }
    })?;
    for_each_transcript_in(std::io::BufReader::new(file), path, visit)
}

/// Parses JSONL transcripts from any reader into memory; `path` only labels errors.
pub fn parse_transcripts(reader: impl BufRead, path: &Path) -> Result<Vec<(usize, TranscriptDialogue)>, DataError> {
    let mut dialogues = Vec::new();
    for_each_transcript_in(reader, path, |line, d| {
        dialogues.push((line, d));
        Ok::<(), DataError>(())
    })?;
    Ok(dialogues)
}

/// [`for_each_transcript`] over any reader (standard input, say); `path` only labels errors.
/// A line that is not a dialogue, a dialogue without utterances, and input without any
/// dialogue are errors naming the line.
pub fn for_each_transcript_in<E: From<DataError>>(
    reader: impl BufRead,
    path: &Path,
    mut visit: impl FnMut(usize, TranscriptDialogue) -> Result<(), E>,
) -> Result<usize, E> {
    let mut count = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let dialogue: TranscriptDialogue = serde_json::from_str(&line).map_err(|e| DataError::Input {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!(
                "not a transcript dialogue ({{id, split, utterances: [{{speaker, text, emotion}}]}}): {e}"
            ),
        })?;
        if dialogue.utterances.is_empty() {
            return Err(DataError::Input {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("dialogue `{}` has no utterance", dialogue.id),
            }
            .into());
        }
        count += 1;
        visit(i + 1, dialogue)?;
    }
    if count == 0 {
        return Err(DataError::invalid(path, "no dialogue in the file").into());
    }
    Ok(count)
}

fn choose_classes(labels: &BTreeSet<String>) -> Vec<String> {
    for known in [&IEMOCAP_CLASSES[..], &MELD_CLASSES[..]] {
        if labels.iter().all(|l| known.contains(&l.as_str())) {
            return known.iter().map(|s| s.to_string()).collect();
        }
    }
    labels.iter().cloned().collect()
}

/// Imports a JSONL transcript file into a [`DatasetBuilder`] with no modality, streaming the
/// file twice (labels first, then dialogues). Texts are kept when `options.keep_text`.
pub fn import_jsonl(path: &Path, options: &ImportOptions) -> Result<DatasetBuilder, DataError> {
    let mut label_set = BTreeSet::new();
    let mut speaker_set = BTreeSet::new();
    for_each_transcript(path, |_, d| {
        for u in d.utterances {
            label_set.extend(u.emotion);
            speaker_set.insert(u.speaker);
        }
        Ok::<(), DataError>(())
    })?;
    let classes = match &options.classes {
        Some(c) => c.clone(),
        None => choose_classes(&label_set),
    };
    if classes.is_empty() {
        return Err(DataError::invalid(path, "no emotion label anywhere and no class list given"));
    }
    let name = options.name.clone().unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "transcripts".into())
    });
    let mut builder =
        DatasetBuilder::new(name, classes.clone(), Vec::new()).with_source(format!("imported from {}", path.display()));
    if options.keep_text {
        builder = builder.with_text();
    }
    if speaker_set.iter().all(|s| ["M", "F"].contains(&s.as_str())) {
        // IEMOCAP's convention: `M` is speaker 0, everyone else speaker 1
        builder = builder.with_speakers(&["M", "F"]);
    }
    for_each_transcript(path, |line, d| {
        let at = |message: String| DataError::Input { path: path.to_path_buf(), line, message };
        let split = d
            .split
            .clone()
            .or_else(|| options.default_split.clone())
            .ok_or_else(|| at(format!("dialogue `{}` has no `split`", d.id)))?;
        let mut labels = Vec::with_capacity(d.utterances.len());
        for (u, utt) in d.utterances.iter().enumerate() {
            labels.push(match &utt.emotion {
                None => PAD_LABEL,
                Some(e) => classes.iter().position(|c| c == e).map(|i| i as i64).ok_or_else(|| {
                    at(format!(
                        "utterance {u} of dialogue `{}` has unknown emotion `{e}` (classes: {})",
                        d.id,
                        classes.join(", ")
                    ))
                })?,
            });
        }
        builder
            .add_dialogue(DialogueRecord {
                id: d.id.clone(),
                split,
                speakers: d.utterances.iter().map(|u| u.speaker.clone()).collect(),
                labels,
                texts: options.keep_text.then(|| d.utterances.iter().map(|u| u.text.clone()).collect()),
                features: Default::default(),
            })
            .map_err(|e| at(e.to_string()))
    })?;
    builder.hold_out_valid(options.valid_share, options.seed)?;
    Ok(builder)
}
