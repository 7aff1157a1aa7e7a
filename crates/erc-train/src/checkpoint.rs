//! Checkpoints: a model's weights (burn record) plus what is needed to rebuild it.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use erc_core::DataSpec;
use erc_models::AnyModel;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::TrainError;

/// Checkpoint format name.
pub const CHECKPOINT_FORMAT: &str = "erc-checkpoint";
/// File with the checkpoint's metadata.
pub const META_FILE: &str = "meta.json";
/// File with the model weights (burnpack).
pub const MODEL_FILE: &str = "model.bpk";

/// What is needed to rebuild the model a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The run that produced it (model name, model configuration, seed...).
    pub run: RunConfig,
    /// Classes, modalities and speakers the model was built for.
    pub spec: DataSpec,
    /// Epoch (1-based) whose weights these are.
    pub epoch: usize,
    /// The training data's speaker names, index = speaker id (empty in checkpoints written
    /// before this field existed). Prediction maps speaker names through it.
    #[serde(default)]
    pub speakers: Vec<String>,
}

/// A checkpoint directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// Its metadata.
    pub meta: CheckpointMeta,
}

impl Checkpoint {
    /// Writes `model` and its metadata into `dir` (created or replaced; a checkpoint is the
    /// run's own output, never a user's file).
    pub fn save(dir: &Path, meta: &CheckpointMeta, model: &AnyModel) -> Result<(), TrainError> {
        let staging = dir.with_extension("tmp");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| TrainError::io(&staging, e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| TrainError::io(&staging, e))?;
        model
            .save_weights(&staging.join(MODEL_FILE))
            .map_err(|e| TrainError::Checkpoint { path: staging.clone(), message: format!("saving weights: {e}") })?;
        let json = serde_json::to_string_pretty(meta).expect("metadata serialises");
        std::fs::write(staging.join(META_FILE), json).map_err(|e| TrainError::io(staging.join(META_FILE), e))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| TrainError::io(dir, e))
    }

    /// Opens a checkpoint directory and reads its metadata.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        let bad = |message: String| TrainError::Checkpoint { path: dir.to_path_buf(), message };
        let meta_path = dir.join(META_FILE);
        if !meta_path.is_file() {
            return Err(bad(format!("no {META_FILE} here; pass a checkpoint directory such as RUN/checkpoints/best")));
        }
        let text = std::fs::read_to_string(&meta_path).map_err(|e| TrainError::io(&meta_path, e))?;
        let meta: CheckpointMeta = serde_json::from_str(&text).map_err(|e| bad(format!("invalid {META_FILE}: {e}")))?;
        if meta.format != CHECKPOINT_FORMAT {
            return Err(bad(format!("format `{}` is not `{CHECKPOINT_FORMAT}`", meta.format)));
        }
        if !dir.join(MODEL_FILE).is_file() {
            return Err(bad(format!("{MODEL_FILE} is missing")));
        }
        Ok(Self { dir: dir.to_path_buf(), meta })
    }

    /// Rebuilds the model and loads the weights onto `device`.
    pub fn load_model(&self, device: &Device) -> Result<AnyModel, TrainError> {
        let model = self.meta.run.model.build(&self.meta.spec, device)?;
        model
            .load_weights(&self.dir.join(MODEL_FILE))
            .map_err(|e| TrainError::Checkpoint { path: self.dir.clone(), message: format!("loading weights: {e}") })
    }
}
