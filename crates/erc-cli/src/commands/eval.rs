//! `erc eval`: a checkpoint scored on a dataset split.

use std::path::PathBuf;

use clap::Args;
use erc_core::BackendKind;
use erc_data::Dataset;
use erc_train::Checkpoint;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint directory (RUN/checkpoints/best).
    checkpoint: PathBuf,
    /// Dataset directory.
    dataset: PathBuf,
    /// Split to score.
    #[arg(long, default_value = "test")]
    split: String,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// Dialogues per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `erc eval`.
pub fn run(a: EvalArgs) -> Result<(), CliError> {
    let checkpoint = Checkpoint::open(&a.checkpoint)?;
    let dataset = Dataset::open(&a.dataset)?;
    let result =
        erc_train::evaluate::evaluate_checkpoint(&checkpoint, &dataset, &a.split, a.backend, a.batch_size, !a.json)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "{} (epoch {}) on {} / {}:",
            checkpoint.meta.run.model.name(),
            checkpoint.meta.epoch,
            dataset.manifest().name,
            a.split
        );
        print!("{}", result.metrics);
    }
    Ok(())
}
