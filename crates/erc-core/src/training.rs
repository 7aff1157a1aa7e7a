//! Serialisable training hyper-parameters.
//!
//! They live here, not in `erc-train`, so that model presets (in `erc-models`) can carry the
//! paper's optimiser settings without depending on the training crate.

use serde::{Deserialize, Serialize};

/// Which optimiser to use. Both follow PyTorch's semantics for `weight_decay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam; `weight_decay` is an L2 term added to the gradient (`torch.optim.Adam`).
    Adam,
    /// AdamW; `weight_decay` is decoupled from the gradient (`torch.optim.AdamW`).
    AdamW,
}

/// How the learning rate changes during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base learning rate throughout.
    Constant,
    /// `ReduceLROnPlateau` on the validation selection metric (higher is better): multiply the
    /// rate by `factor` after `patience` epochs without improvement, never below `min_lr`.
    Plateau {
        /// Multiplier applied on a plateau (0 < factor < 1).
        factor: f64,
        /// Epochs without improvement before the rate drops.
        patience: usize,
        /// Floor for the learning rate.
        min_lr: f64,
    },
    /// Linear warm-up from 0 over `warmup_steps` optimiser steps, then linear decay to 0 at
    /// the last step of the last epoch.
    LinearWarmupDecay {
        /// Optimiser steps of warm-up.
        warmup_steps: usize,
    },
}

/// Optimiser and loop settings a model preset recommends; every field can be overridden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPreset {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f64,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Dialogues per batch.
    pub batch_size: usize,
    /// Clip the global gradient norm to this value (`torch.nn.utils.clip_grad_norm_`).
    pub grad_clip_norm: Option<f64>,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// Stop after this many epochs without a better validation score.
    pub patience: Option<usize>,
}

impl Default for TrainingPreset {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 1e-5,
            epochs: 30,
            batch_size: 16,
            grad_clip_norm: Some(5.0),
            schedule: LrSchedule::Constant,
            patience: Some(10),
        }
    }
}
