//! One training run: fit on train, select on valid, score test once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use erc_core::metrics::classification_report;
use erc_core::{DialogueModel, MetricKind};
use erc_data::{Batcher, Dataset};
use erc_models::{ModelFactory, ModelVisitor, visit_model};
use serde::{Deserialize, Serialize};

use crate::auxiliary::{face_emotion_epoch, face_emotion_optimizer, load_face_emotions};
use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointMeta};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::evaluate::{PassAccumulator, evaluate};
use crate::optim::{build_optimizer, clip_grad_norm};
use crate::progress;
use crate::report::{DatasetSummary, EpochRecord, RunReport, SplitResult};
use crate::schedule::LrScheduler;

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
}

/// Loop state saved after every epoch so a run can resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    config: RunConfig,
    epochs_done: usize,
    history: Vec<EpochRecord>,
    best_score: Option<f64>,
    best_epoch: usize,
    best_valid: Option<SplitResult>,
    epochs_without_improvement: usize,
    scheduler: LrScheduler,
    seconds: f64,
}

/// Trains the model named in `config` on `dataset` and writes the run to `options.out_dir`.
pub fn train(dataset: &Dataset, config: &RunConfig, options: &RunOptions) -> Result<RunReport, TrainError> {
    visit_model(&config.model, TrainVisitor { dataset, config, options })?
}

struct TrainVisitor<'a> {
    dataset: &'a Dataset,
    config: &'a RunConfig,
    options: &'a RunOptions,
}

impl ModelVisitor for TrainVisitor<'_> {
    type Output = Result<RunReport, TrainError>;

    fn visit<F: ModelFactory>(self) -> Self::Output {
        train_typed::<F>(self.dataset, self.config, self.options)
    }
}

/// A seed for epoch `epoch` derived from the run seed (SplitMix64 step).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed.wrapping_add((epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_string_pretty(value).expect("report serialises");
    std::fs::write(&tmp, json + "\n").map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

fn prepare_out_dir(options: &RunOptions) -> Result<Option<LoopState>, TrainError> {
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

/// Whether a directory already holds a run's outputs (which a new run would overwrite).
pub fn holds_run(dir: &Path) -> bool {
    [files::REPORT, "checkpoints", crate::seeds::SUMMARY_FILE].iter().any(|f| dir.join(f).exists())
}

fn majority_class(dataset: &Dataset, dialogues: &[usize]) -> usize {
    let counts = dataset.class_counts(dialogues);
    (0..counts.len()).max_by_key(|&c| (counts[c], std::cmp::Reverse(c))).unwrap_or(0)
}

fn train_typed<F: ModelFactory>(
    dataset: &Dataset,
    config: &RunConfig,
    options: &RunOptions,
) -> Result<RunReport, TrainError> {
    let started = Instant::now();
    let resumed = prepare_out_dir(options)?;
    if let Some(state) = &resumed {
        let (a, b) = (&state.config, config);
        if a.model != b.model || a.model_config != b.model_config || a.seed != b.seed {
            return Err(TrainError::Checkpoint {
                path: options.out_dir.clone(),
                message: format!(
                    "the saved run is {} (seed {}) with another configuration; resume it with the same settings",
                    a.model, a.seed
                ),
            });
        }
    }
    if config.training.epochs == 0 || config.training.batch_size == 0 {
        return Err(TrainError::Config("epochs and batch size must be at least 1".into()));
    }
    let mut spec = dataset.spec();
    let classes = spec.classes.clone();
    let train_ids = dataset.split(&config.splits.train)?.to_vec();
    spec.train_class_counts = Some(dataset.class_counts(&train_ids));
    let valid_ids = dataset.split(&config.splits.valid)?.to_vec();
    let test_ids = dataset.split(&config.splits.test)?.to_vec();
    if train_ids.is_empty() || valid_ids.is_empty() || test_ids.is_empty() {
        return Err(TrainError::Config("the train, valid and test splits must each hold a dialogue".into()));
    }

    let device: Device = config.backend.training_device()?;
    let eval_device = device.clone().inner();
    device.seed(config.seed);
    let model_config: F::Config =
        serde_json::from_value(config.model_config.clone()).map_err(|e| TrainError::Config(e.to_string()))?;
    let mut model = F::build(&model_config, &spec, &device)?;
    let num_params = model.num_params();
    let mut optimizer = build_optimizer(&config.training);
    let face_emotions = match &config.face_emotions {
        Some(settings) if F::HAS_FACE_EMOTION_TASK => {
            let faces = erc_core::sequences::sequence_shape(&spec, erc_core::sequences::FACES)?;
            Some((settings, load_face_emotions(settings, faces.width, &classes)?))
        }
        Some(_) => {
            return Err(TrainError::Config(format!(
                "model `{}` has no face-emotion task: drop the face-emotion set",
                config.model
            )));
        }
        None => None,
    };
    let mut face_optimizer = face_emotion_optimizer();
    let batcher = Batcher::new(config.training.batch_size);
    let batches_per_epoch = train_ids.len().div_ceil(batcher.batch_size);
    let total_steps = batches_per_epoch * config.training.epochs;
    let meta = |epoch: usize| CheckpointMeta {
        format: CHECKPOINT_FORMAT.into(),
        run: config.clone(),
        spec: spec.clone(),
        epoch,
        speakers: dataset.manifest().speakers.clone(),
    };
    let last_dir = options.out_dir.join(files::LAST);
    let best_dir = options.out_dir.join(files::BEST);

    let mut state = match resumed {
        Some(mut s) => {
            let last = Checkpoint::open(&last_dir)?;
            model = last.load_model::<F>(&device)?;
            let opt_path = last_dir.join(files::OPTIMIZER);
            optimizer = optimizer.load(&opt_path).map_err(|e| TrainError::Checkpoint {
                path: opt_path,
                message: format!("loading optimiser state: {e:?}"),
            })?;
            if face_emotions.is_some() {
                let path = last_dir.join(files::FACE_OPTIMIZER);
                face_optimizer = face_optimizer.load(&path).map_err(|e| TrainError::Checkpoint {
                    path,
                    message: format!("loading the face-emotion optimiser state: {e:?}"),
                })?;
            }
            s.config = config.clone();
            if options.verbose {
                eprintln!("resuming {} after epoch {}", options.out_dir.display(), s.epochs_done);
            }
            s
        }
        None => LoopState {
            config: config.clone(),
            epochs_done: 0,
            history: Vec::new(),
            best_score: None,
            best_epoch: 0,
            best_valid: None,
            epochs_without_improvement: 0,
            scheduler: LrScheduler::new(config.training.schedule.clone(), config.training.lr, total_steps),
            seconds: 0.0,
        },
    };

    let selection: MetricKind = config.selection;
    let mut stopped_early = false;
    for epoch in state.epochs_done + 1..=config.training.epochs {
        if config.training.patience.is_some_and(|p| state.epochs_without_improvement >= p) {
            stopped_early = true;
            break;
        }
        let epoch_start = Instant::now();
        let seed = epoch_seed(config.seed, epoch);
        device.seed(seed);
        // the auxiliary task's pass comes first, as in the reference's epoch
        let face_result = match &face_emotions {
            Some((settings, set)) => {
                let (trained, result) =
                    face_emotion_epoch::<F>(model, set, settings, &mut face_optimizer, seed ^ 0xFACE, &device)?;
                model = trained;
                if options.verbose {
                    eprintln!("epoch {epoch:>3} face emotions: loss {:.4} acc {:.4}", result.loss, result.accuracy);
                }
                Some(result)
            }
            None => None,
        };
        let plan = batcher.plan(&train_ids, Some(seed));
        let bar = progress::bar(plan.len(), &format!("epoch {epoch}/{}", config.training.epochs), options.progress);
        let mut acc = PassAccumulator::default();
        let mut lr = state.scheduler.current();
        for (bi, ids) in plan.iter().enumerate() {
            let batch = batcher.load(dataset, ids, &device)?;
            let output = model.forward(&batch)?;
            let Some(loss) = output.total_loss() else {
                if batch.labels.is_some() {
                    return Err(TrainError::NoLoss(config.model.clone()));
                }
                continue;
            };
            let value = acc.add(&output, &batch)?.unwrap_or(f32::NAN);
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss { epoch, batch: bi + 1, value });
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(max_norm) = config.training.grad_clip_norm {
                clip_grad_norm(&mut grads, &model, max_norm as f32);
            }
            lr = state.scheduler.next_lr();
            model = optimizer.step(lr, model, grads);
            bar.set_message(format!("loss {value:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_result = acc.finish(&classes)?;
        let train_seconds = epoch_start.elapsed().as_secs_f64();

        let valid_start = Instant::now();
        let eval_model = model.valid();
        let valid = evaluate(&eval_model, dataset, &valid_ids, &batcher, &eval_device, false)?;
        let valid_seconds = valid_start.elapsed().as_secs_f64();
        let score = selection.of(&valid.metrics);
        let improved = state.best_score.is_none_or(|b| score > b);
        if improved {
            state.best_score = Some(score);
            state.best_epoch = epoch;
            state.best_valid = Some(valid.clone());
            state.epochs_without_improvement = 0;
            Checkpoint::save(&best_dir, &meta(epoch), &eval_model)?;
        } else {
            state.epochs_without_improvement += 1;
        }
        state.scheduler.end_epoch(score);
        if options.verbose {
            eprintln!(
                "epoch {epoch:>3}/{}  train loss {:.4} wF1 {:.4} | valid loss {:.4} acc {:.4} wF1 {:.4} mF1 {:.4} | lr {lr:.2e} {:.1}s{}",
                config.training.epochs,
                train_result.loss.unwrap_or(f64::NAN),
                train_result.metrics.weighted_f1,
                valid.loss.unwrap_or(f64::NAN),
                valid.metrics.accuracy,
                valid.metrics.weighted_f1,
                valid.metrics.macro_f1,
                train_seconds + valid_seconds,
                if improved { "  * selected" } else { "" }
            );
        }
        state.history.push(EpochRecord {
            epoch,
            lr,
            train: train_result,
            valid,
            train_seconds,
            valid_seconds,
            improved,
            face_emotions: face_result,
        });
        state.epochs_done = epoch;
        // the last epoch, for --resume
        Checkpoint::save(&last_dir, &meta(epoch), &eval_model)?;
        let opt_path = last_dir.join(files::OPTIMIZER);
        optimizer.save(&opt_path).map_err(|e| TrainError::Checkpoint {
            path: opt_path,
            message: format!("saving optimiser state: {e:?}"),
        })?;
        if face_emotions.is_some() {
            let path = last_dir.join(files::FACE_OPTIMIZER);
            face_optimizer.save(&path).map_err(|e| TrainError::Checkpoint {
                path,
                message: format!("saving the face-emotion optimiser state: {e:?}"),
            })?;
        }
        state.seconds += epoch_start.elapsed().as_secs_f64();
        write_json(&last_dir.join(files::STATE), &state)?;
    }

    // score the selected model on test, once
    let best = Checkpoint::open(&best_dir)?;
    let best_model = best.load_model::<F>(&eval_device)?;
    let test = evaluate(&best_model, dataset, &test_ids, &batcher, &eval_device, options.progress)?;
    let majority = majority_class(dataset, &train_ids);
    let test_truth: Vec<usize> = test_ids
        .iter()
        .flat_map(|&d| {
            let info = dataset.dialogue(d);
            dataset.labels(info.start, info.end).to_vec()
        })
        .filter(|&y| y >= 0)
        .map(|y| y as usize)
        .collect();
    let majority_baseline_test = classification_report(&test_truth, &vec![majority; test_truth.len()], &classes)?;

    let manifest = dataset.manifest();
    let report = RunReport {
        erc_version: env!("CARGO_PKG_VERSION").into(),
        config: config.clone(),
        dataset: DatasetSummary {
            name: manifest.name.clone(),
            path: dataset.root().display().to_string(),
            dialogues: manifest.splits.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
            classes: classes.clone(),
        },
        num_params,
        epochs: state.history.clone(),
        selected_epoch: state.best_epoch,
        selected_valid: state.best_valid.clone().expect("at least one epoch ran"),
        test,
        majority_baseline_test,
        stopped_early,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&options.out_dir.join(files::REPORT), &report)?;
    Ok(report)
}
