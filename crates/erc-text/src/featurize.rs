//! JSONL transcripts → an erc dataset with the `text` modality filled by a sentence encoder.
//!
//! The transcript file is streamed three times (labels, skeleton, texts); only the skeleton
//! (labels, speakers, splits: a few integers per utterance) and one block of utterances are in
//! memory, whatever the file's size. The dataset is written atomically: an error or an
//! interruption leaves nothing at the output path.

use std::path::Path;
use std::time::Instant;

use erc_data::transcripts::for_each_transcript;
use erc_data::writer::ensure_writable_target;
use erc_data::{ImportOptions, import_jsonl};

use crate::encoder::SentenceEncoder;
use crate::error::TextError;

/// Name of the modality a featurized dataset carries.
pub const TEXT_MODALITY: &str = "text";

/// How to featurize.
#[derive(Debug, Clone)]
pub struct FeaturizeOptions {
    /// Classes, validation hold-out and naming, as for `erc import`.
    pub import: ImportOptions,
    /// Utterances encoded per block (sorted by length inside a block, then batched).
    pub block: usize,
}

impl Default for FeaturizeOptions {
    fn default() -> Self {
        Self { import: ImportOptions::default(), block: 1024 }
    }
}

/// What a featurization wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturizeSummary {
    /// Dialogues written.
    pub dialogues: usize,
    /// Utterances encoded.
    pub utterances: usize,
    /// Width of the `text` vectors.
    pub dim: usize,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Encodes every utterance of `transcripts` with `encoder` and writes the dataset to `out`
/// (which must not exist or be empty). `progress(done, total)` is called after each block.
pub fn featurize(
    encoder: &SentenceEncoder,
    transcripts: &Path,
    out: &Path,
    options: &FeaturizeOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<FeaturizeSummary, TextError> {
    let start = Instant::now();
    ensure_writable_target(out)?;
    let import = ImportOptions { keep_text: false, ..options.import.clone() };
    let skeleton = import_jsonl(transcripts, &import)?.with_source(format!(
        "featurized from {} with the encoder {}",
        transcripts.display(),
        encoder.dir().display()
    ));
    let total = skeleton.num_utterances();
    let block = options.block.max(1);
    skeleton.write_streaming(out, TEXT_MODALITY, encoder.dim(), |sink| -> Result<(), TextError> {
        let mut pending: Vec<String> = Vec::with_capacity(block);
        let mut flush = |pending: &mut Vec<String>, sink: &mut erc_data::RowSink| -> Result<(), TextError> {
            if pending.is_empty() {
                return Ok(());
            }
            let texts: Vec<&str> = pending.iter().map(String::as_str).collect();
            let vectors = encoder.encode(&texts)?;
            sink.push(&vectors.values, &texts)?;
            pending.clear();
            progress(total - sink.remaining(), total);
            Ok(())
        };
        for_each_transcript(transcripts, |_, dialogue| {
            pending.extend(dialogue.utterances.into_iter().map(|u| u.text));
            if pending.len() >= block { flush(&mut pending, sink) } else { Ok(()) }
        })?;
        flush(&mut pending, sink)
    })?;
    Ok(FeaturizeSummary {
        dialogues: skeleton.num_dialogues(),
        utterances: total,
        dim: encoder.dim(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
