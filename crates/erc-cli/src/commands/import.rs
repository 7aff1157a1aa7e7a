//! `erc import`: JSONL transcripts as a dataset skeleton.

use std::path::PathBuf;

use clap::Args;
use erc_data::{ImportOptions, import_jsonl};

use crate::error::CliError;

/// Which transcripts become which dataset, and how (shared by `import` and `featurize`).
#[derive(Debug, Args)]
pub struct ImportChoices {
    /// JSONL transcript file.
    #[arg(long)]
    pub transcripts: PathBuf,
    /// Output dataset directory (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Class names in index order, comma-separated (default: IEMOCAP's or MELD's order when the labels fit).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Share of training dialogues held out for validation when the file has no `valid` split.
    #[arg(long, default_value_t = 0.1)]
    pub valid_share: f64,
    /// Seed of that hold-out.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ImportChoices {
    /// The import options these choices stand for.
    pub fn options(&self) -> ImportOptions {
        ImportOptions {
            classes: self.classes.clone(),
            valid_share: self.valid_share,
            seed: self.seed,
            ..ImportOptions::default()
        }
    }
}

/// Runs `erc import`.
pub fn run(a: ImportChoices) -> Result<(), CliError> {
    erc_data::writer::ensure_writable_target(&a.out)?;
    let builder = import_jsonl(&a.transcripts, &a.options())?;
    builder.write(&a.out)?;
    let m = builder.manifest();
    println!(
        "imported {} dialogues / {} utterances into {} (classes: {}; no feature modality yet)",
        m.dialogue_ids.len(),
        m.num_utterances,
        a.out.display(),
        m.classes.join(", ")
    );
    Ok(())
}
