//! A run directory: its file names, the loop state saved after every epoch, and the checks that
//! keep a new run from overwriting an old one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::report::{EpochRecord, SplitResult};
use crate::schedule::LrScheduler;

/// File names inside a run directory.
pub mod files {
    /// The run report.
    pub const REPORT: &str = "report.json";
    /// The selected model.
    pub const BEST: &str = "checkpoints/best";
    /// The last epoch's model, optimiser and loop state.
    pub const LAST: &str = "checkpoints/last";
    /// Loop state inside `LAST`.
    pub const STATE: &str = "state.json";
    /// Optimiser state inside `LAST`.
    pub const OPTIMIZER: &str = "optimizer.bpk";
    /// The auxiliary face-emotion optimiser's state inside `LAST` (runs with that task).
    pub const FACE_OPTIMIZER: &str = "face_optimizer.bpk";
    /// The multi-seed summary in the parent run directory.
    pub const SUMMARY: &str = "summary.json";
}

/// How a run behaves (not what it computes).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Directory of the run: `report.json`, `checkpoints/best`, `checkpoints/last`.
    pub out_dir: PathBuf,
    /// Continue from `checkpoints/last` instead of refusing an existing run directory.
    pub resume: bool,
    /// Draw progress bars.
    pub progress: bool,
    /// Print one line per epoch to stderr.
    pub verbose: bool,
}

impl RunOptions {
    /// Quiet options writing to `out_dir` (for tests and library use).
    pub fn quiet(out_dir: impl Into<PathBuf>) -> Self {
        Self { out_dir: out_dir.into(), resume: false, progress: false, verbose: false }
    }
}

/// Loop state saved after every epoch so a run can resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LoopState {
    pub config: RunConfig,
    pub epochs_done: usize,
    pub history: Vec<EpochRecord>,
    pub best_score: Option<f64>,
    pub best_epoch: usize,
    pub best_valid: Option<SplitResult>,
    pub epochs_without_improvement: usize,
    pub scheduler: LrScheduler,
    pub seconds: f64,
}

impl LoopState {
    /// The state before the first epoch.
    pub fn fresh(config: &RunConfig, total_steps: usize) -> Self {
        Self {
            config: config.clone(),
            epochs_done: 0,
            history: Vec::new(),
            best_score: None,
            best_epoch: 0,
            best_valid: None,
            epochs_without_improvement: 0,
            scheduler: LrScheduler::new(config.training.schedule.clone(), config.training.lr, total_steps),
            seconds: 0.0,
        }
    }
}

/// Writes `value` as pretty JSON through a temporary file and a rename.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_string_pretty(value).expect("reports serialise");
    std::fs::write(&tmp, json + "\n").map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// Whether a directory already holds a run's outputs (which a new run would overwrite).
pub fn holds_run(dir: &Path) -> bool {
    [files::REPORT, "checkpoints", files::SUMMARY].iter().any(|f| dir.join(f).exists())
}

/// Opens the run directory: the saved loop state when resuming, `None` for a new run (after
/// checking that the directory holds no run, and creating it).
pub(crate) fn prepare_out_dir(options: &RunOptions) -> Result<Option<LoopState>, TrainError> {
    let out = &options.out_dir;
    let state_path = out.join(files::LAST).join(files::STATE);
    if options.resume {
        if !state_path.is_file() {
            return Err(TrainError::Checkpoint {
                path: out.join(files::LAST),
                message: "nothing to resume: no saved epoch here".into(),
            });
        }
        let text = std::fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
        let state = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
            path: state_path.clone(),
            message: format!("invalid loop state: {e}"),
        })?;
        return Ok(Some(state));
    }
    if holds_run(out) {
        return Err(TrainError::RunExists(out.clone()));
    }
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    Ok(None)
}
