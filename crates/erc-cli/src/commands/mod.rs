//! The subcommands of `erc`, one file each, and the command line that dispatches to them.

pub mod eval;
pub mod featurize;
pub mod import;
pub mod info;
pub mod models;
pub mod parity;
pub mod predict;
pub mod synth;
pub mod train;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Multimodal emotion recognition in conversations.
#[derive(Debug, Parser)]
#[command(name = "erc", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic multimodal conversation dataset.
    Synth(synth::SynthArgs),
    /// Import JSONL transcripts ({id, split, utterances: [{speaker, text, emotion}]}) as a dataset skeleton.
    Import(import::ImportChoices),
    /// Encode JSONL transcripts with a sentence encoder into a dataset with the `text` modality.
    Featurize(featurize::FeaturizeArgs),
    /// Predict per-utterance emotions of JSONL dialogues with a checkpoint and its text encoder.
    Predict(predict::PredictArgs),
    /// Show a dataset's sizes, modalities and class balance.
    Info(info::InfoArgs),
    /// List the registered models and their presets.
    Models,
    /// Train a model; select the epoch on validation, score test once.
    Train(train::TrainArgs),
    /// Score a checkpoint on a dataset split.
    Eval(eval::EvalArgs),
    /// Check a model against a reference parity fixture (FIXTURE.safetensors with FIXTURE.json beside it).
    Parity(parity::ParityArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(a) => synth::run(a),
        Command::Import(a) => import::run(a),
        Command::Featurize(a) => featurize::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Info(a) => info::run(a),
        Command::Models => models::run(),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Parity(a) => parity::run(a),
    }
}
