//! `erc predict`: JSONL dialogues → per-utterance emotions and class probabilities as JSONL,
//! through the sentence encoder the training data was featurized with and a checkpoint.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use erc_core::batch::HostBatch;
use erc_core::{BackendKind, DataSpec, PAD_LABEL};
use erc_data::transcripts::{TranscriptDialogue, TranscriptUtterance, parse_transcripts};
use erc_text::{SentenceEncoder, TEXT_MODALITY};
use erc_train::predict::{SpeakerMap, predict_batches};
use erc_train::{Checkpoint, TrainError};
use serde_json::json;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Checkpoint directory (RUN/checkpoints/best) of a model trained on text features.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The encoder directory the training data was featurized with.
    #[arg(long)]
    encoder: PathBuf,
    /// JSONL dialogues ({id, utterances: [{speaker, text}]}; labels optional); `-` for standard input.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Dialogues per batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
}

/// Reads the dialogues from a file, or from standard input for `-`.
fn read_dialogues(input: &Path) -> Result<Vec<TranscriptDialogue>, CliError> {
    let dialogues = if input == Path::new("-") {
        parse_transcripts(std::io::stdin().lock(), Path::new("<stdin>"))?
    } else {
        erc_data::transcripts::read_transcripts(input)?
    };
    Ok(dialogues.into_iter().map(|(_, d)| d).collect())
}

/// The padded host batch of some dialogues: text vectors from `encoder`, speakers through `speakers`.
fn host_batch(
    dialogues: &[TranscriptDialogue],
    encoder: &SentenceEncoder,
    speakers: &SpeakerMap,
    slots: usize,
) -> Result<HostBatch, TrainError> {
    let texts: Vec<&str> = dialogues.iter().flat_map(|d| d.utterances.iter().map(|u| u.text.as_str())).collect();
    let vectors = encoder.encode(&texts).map_err(|e| TrainError::Config(format!("text encoder: {e}")))?;
    let dim = vectors.dim;
    let t = dialogues.iter().map(|d| d.utterances.len()).max().unwrap_or(0);
    let b = dialogues.len();
    let mut values = vec![0f32; b * t * dim];
    let mut speaker_ids = vec![0i64; b * t];
    let mut next = 0;
    for (i, d) in dialogues.iter().enumerate() {
        let names: Vec<&str> = d.utterances.iter().map(|u| u.speaker.as_str()).collect();
        for (u, id) in speakers.map(&names).into_iter().enumerate() {
            values[(i * t + u) * dim..(i * t + u + 1) * dim].copy_from_slice(vectors.row(next));
            speaker_ids[i * t + u] = id;
            next += 1;
        }
    }
    Ok(HostBatch {
        features: BTreeMap::from([(TEXT_MODALITY.to_string(), (dim, values))]),
        lengths: dialogues.iter().map(|d| d.utterances.len()).collect(),
        speakers: speaker_ids,
        labels: vec![PAD_LABEL; b * t],
        speaker_slots: slots,
    })
}

/// Runs `erc predict`.
pub fn run(a: PredictArgs) -> Result<(), CliError> {
    let PredictArgs { checkpoint, encoder, input, batch_size, backend } = a;
    let checkpoint = Checkpoint::open(&checkpoint)?;
    let spec = checkpoint.meta.spec.clone();
    let encoder = SentenceEncoder::load(&encoder, &backend.device()?)?;
    check_text_features(&spec, &encoder)?;
    let dialogues = read_dialogues(&input)?;
    let slots = spec.num_speakers;
    let speakers = SpeakerMap::new(&checkpoint.meta.speakers, slots);

    // batches are built lazily, each carrying its dialogues to the sink
    let batches = dialogues
        .chunks(batch_size.max(1))
        .map(|chunk| host_batch(chunk, &encoder, &speakers, slots).map(|batch| (batch, chunk)));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut tally = LabelTally::default();
    predict_batches(&checkpoint, backend, batches, |chunk: &[TranscriptDialogue], probabilities| {
        for (d, probs) in chunk.iter().zip(probabilities) {
            let utterances: Vec<serde_json::Value> =
                d.utterances.iter().zip(probs).map(|(u, p)| utterance_row(u, &p, &spec.classes, &mut tally)).collect();
            let line = json!({"id": d.id, "utterances": utterances});
            writeln!(out, "{line}").map_err(|e| TrainError::Config(format!("writing the predictions: {e}")))?;
        }
        Ok(())
    })?;
    out.flush()?;
    tally.report();
    Ok(())
}

/// Checks that the checkpoint reads text features alone, of the encoder's width.
fn check_text_features(spec: &DataSpec, encoder: &SentenceEncoder) -> Result<(), CliError> {
    let text_dim = match spec.modalities.as_slice() {
        [m] if m.name == TEXT_MODALITY => m.dim,
        other => {
            let names: Vec<&str> = other.iter().map(|m| m.name.as_str()).collect();
            return Err(format!(
                "this checkpoint was trained on a dataset with modalities [{}]; `erc predict` supplies text \
                 features only: train on a dataset made by `erc featurize`",
                names.join(", ")
            )
            .into());
        }
    };
    if encoder.dim() != text_dim {
        return Err(format!(
            "the encoder in {} gives {}-d vectors, the checkpoint was trained on {text_dim}-d text features: \
             pass the encoder the training data was featurized with",
            encoder.dir().display(),
            encoder.dim()
        )
        .into());
    }
    Ok(())
}

/// Accuracy over the utterances whose input carried a label.
#[derive(Debug, Default)]
struct LabelTally {
    labelled: usize,
    correct: usize,
    unknown: usize,
}

impl LabelTally {
    /// Counts one utterance's label (when it has one) against the predicted class.
    fn add(&mut self, label: Option<&str>, predicted: usize, classes: &[String]) {
        let Some(label) = label else { return };
        match classes.iter().position(|c| c == label) {
            Some(y) => {
                self.labelled += 1;
                self.correct += usize::from(y == predicted);
            }
            None => self.unknown += 1,
        }
    }

    /// One line on stderr, when any utterance was labelled.
    fn report(&self) {
        if self.labelled == 0 {
            return;
        }
        let skipped = if self.unknown > 0 {
            format!(" ({} labels outside the classes were skipped)", self.unknown)
        } else {
            String::new()
        };
        eprintln!(
            "accuracy on the {} labelled utterances: {:.4}{skipped}",
            self.labelled,
            self.correct as f64 / self.labelled as f64
        );
    }
}

/// One utterance's output row: speaker, text, predicted class, the probabilities by class name
/// and the label when the input had one.
fn utterance_row(u: &TranscriptUtterance, p: &[f32], classes: &[String], tally: &mut LabelTally) -> serde_json::Value {
    let best = p.iter().enumerate().fold(0, |b, (i, v)| if *v > p[b] { i } else { b });
    tally.add(u.emotion.as_deref(), best, classes);
    let probabilities: serde_json::Map<String, serde_json::Value> =
        classes.iter().zip(p).map(|(c, v)| (c.clone(), json!(v))).collect();
    let mut row =
        json!({"speaker": u.speaker, "text": u.text, "predicted": classes[best], "probabilities": probabilities});
    if let Some(label) = &u.emotion {
        row["label"] = json!(label);
    }
    row
}
