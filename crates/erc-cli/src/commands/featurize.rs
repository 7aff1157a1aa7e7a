//! `erc featurize`: JSONL transcripts encoded by a sentence encoder into a dataset with the
//! `text` modality.

use std::path::PathBuf;

use clap::Args;
use erc_core::BackendKind;

use super::import::ImportChoices;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct FeaturizeArgs {
    /// Encoder directory (Hugging Face layout: config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    encoder: PathBuf,
    #[command(flatten)]
    choices: ImportChoices,
    /// Texts per forward pass.
    #[arg(long, default_value_t = erc_text::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Runs `erc featurize`.
pub fn run(a: FeaturizeArgs) -> Result<(), CliError> {
    let out = &a.choices.out;
    erc_data::writer::ensure_writable_target(out)?;
    let device = a.backend.device()?;
    let encoder = erc_text::SentenceEncoder::load(&a.encoder, &device)?.with_batch_size(a.batch_size);
    let options = erc_text::FeaturizeOptions { import: a.choices.options(), ..Default::default() };
    let bar = erc_train::progress::bar(0, "featurize", !a.no_progress);
    let summary = erc_text::featurize(&encoder, &a.choices.transcripts, out, &options, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    println!(
        "featurized {} dialogues / {} utterances into {} (text {}-d) in {:.1} s ({:.0} utterances/s)",
        summary.dialogues,
        summary.utterances,
        out.display(),
        summary.dim,
        summary.seconds,
        summary.utterances as f64 / summary.seconds.max(1e-9)
    );
    Ok(())
}
