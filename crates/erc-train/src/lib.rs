//! The training and evaluation loop: the only crate that knows both data and models.
//!
//! * [`config::RunConfig`]: what to train (model, preset, hyper-parameters, seed, backend);
//! * [`trainer::train`]: one run with validation-based model selection, early stopping,
//!   checkpoints, resume and a JSON report;
//! * [`seeds::train_seeds`]: the same run over several seeds with mean ± std;
//! * [`evaluate`]: scoring a checkpoint on a split;
//! * [`predict`]: class probabilities of new dialogues from a checkpoint.

#![deny(missing_docs)]

pub mod auxiliary;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod optim;
pub mod predict;
pub mod progress;
pub mod report;
pub mod run_dir;
pub mod schedule;
pub mod seeds;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointMeta};
pub use config::{RunConfig, SplitNames};
pub use error::TrainError;
pub use report::{EpochRecord, RunReport, SeedSummary, SplitResult};
pub use run_dir::RunOptions;
pub use seeds::{MultiSeedReport, train_seeds};
pub use trainer::train;
