//! **erc** — multimodal emotion recognition in conversations, in pure Rust on burn.
//!
//! ```no_run
//! use erc::data::{Dataset, SynthConfig};
//! use erc::train::{RunConfig, RunOptions, train};
//!
//! SynthConfig::iemocap_like(0).generate()?.write("data/synth")?;
//! let dataset = Dataset::open("data/synth")?;
//! let mut config = RunConfig::from_preset("mm-dfn", Some("iemocap"))?;
//! config.training.epochs = 20;
//! let report = train(&dataset, &config, &RunOptions::quiet("runs/synth"))?;
//! println!("test weighted-F1 {:.4}", report.test.metrics.weighted_f1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A crate that depends on erc should compile its dependencies with optimisation even in debug
//! builds, or burn's kernels run many times slower (erc prints a warning when they do):
//!
//! ```toml
//! [profile.dev.package."*"]
//! opt-level = 3
//! ```
//!
//! This facade re-exports the workspace crates:
//!
//! * [`core`]: devices and backends, the dialogue batch, the layer library by kind, losses,
//!   metrics, the model contract;
//! * [`data`]: the dataset format, batching, transcript import, synthetic data;
//! * [`models`]: the four papers' architectures, one module each, and their registry;
//! * [`text`]: BERT-family sentence encoders (transcripts → utterance vectors);
//! * [`train`]: the training loop with validation-based selection, evaluation, prediction.
//!
//! # Which type do I need?
//!
//! | to… | use |
//! |---|---|
//! | open a dataset directory | [`data::Dataset::open`] |
//! | make a dataset from JSONL transcripts | [`data::import_jsonl`], or [`text::featurize()`] with a [`text::SentenceEncoder`] |
//! | generate synthetic conversations | [`data::SynthConfig`] |
//! | pick a model and preset by name | [`train::RunConfig::from_preset`] (or [`models::ModelConfig::preset`]) |
//! | change a model's settings | [`train::RunConfig::override_model_config`], or the typed configs ([`models::MmDfnConfig`], [`models::MultiEmoConfig`], [`models::MalnConfig`], [`models::FacialMmtConfig`]) |
//! | train, select on validation, score test | [`train::train`] (one seed), [`train::train_seeds`] (several) |
//! | load a trained model | [`train::Checkpoint::open`], then [`train::Checkpoint::load_model`] |
//! | score a checkpoint | [`train::evaluate::evaluate_checkpoint`] |
//! | predict emotions of new dialogues | [`train::predict::predict_batches`] |
//! | encode sentences | [`text::SentenceEncoder`] |
//! | run a model on a batch yourself | [`core::DialogueBatch`], [`core::DialogueModel::forward`] on a [`models::AnyModel`] |
//! | choose the backend | [`core::BackendKind`] |
//! | build your own model from the layers | [`core::attention`], [`core::graph`], [`core::rnn`], [`core::encoder`], [`core::loss`], [`core::head`]; register it in `erc-models`' registry |
//!
//! The crates' layout is mapped in `docs/architecture.md`.

#![deny(missing_docs)]

pub use erc_core as core;
pub use erc_data as data;
pub use erc_models as models;
pub use erc_text as text;
pub use erc_train as train;
