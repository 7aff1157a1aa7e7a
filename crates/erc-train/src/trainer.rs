//! One training run: fit on train, select on valid, score test once.
//!
//! [`train`] reads as the run does: `Run::prepare` (directory, splits, model, optimisers,
//! resumed state), `Run::epochs` (each epoch: the auxiliary pass, the training pass,
//! validation and selection, the saved state) and `Run::finish` (the selected model scored on
//! test, the report).

use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use erc_core::metrics::classification_report;
use erc_core::{DataSpec, DialogueModel};
use erc_data::{Batcher, Dataset, FaceEmotionSet};
use erc_models::AnyModel;

use crate::auxiliary::{face_emotion_epoch, face_emotion_optimizer, load_face_emotions};
use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointMeta};
use crate::config::{FaceEmotionTraining, RunConfig};
use crate::error::TrainError;
use crate::evaluate::{PassAccumulator, evaluate};
use crate::optim::{build_optimizer, clip_grad_norm};
use crate::progress;
use crate::report::{AuxiliaryResult, DatasetSummary, EpochRecord, RunReport, SplitResult};
use crate::run_dir::{LoopState, files, prepare_out_dir, write_json};

pub use crate::run_dir::{RunOptions, holds_run};

/// Trains the model of `config` on `dataset` and writes the run to `options.out_dir`.
pub fn train(dataset: &Dataset, config: &RunConfig, options: &RunOptions) -> Result<RunReport, TrainError> {
    let started = Instant::now();
    let mut run = Run::prepare(dataset, config, options)?;
    let stopped_early = run.epochs()?;
    run.finish(started, stopped_early)
}

/// A seed for epoch `epoch` derived from the run seed (SplitMix64 step).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed.wrapping_add((epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The dialogues of the three splits a run uses.
struct Splits {
    train: Vec<usize>,
    valid: Vec<usize>,
    test: Vec<usize>,
}

/// The auxiliary face-emotion task: its settings, its set and its own optimiser.
struct FaceTask<'a> {
    settings: &'a FaceEmotionTraining,
    set: FaceEmotionSet,
    optimizer: ModuleOptimizer,
}

/// What one training pass produced.
struct EpochTrain {
    result: SplitResult,
    lr: f64,
    face: Option<AuxiliaryResult>,
    seconds: f64,
}

/// A run in progress.
struct Run<'a> {
    dataset: &'a Dataset,
    config: &'a RunConfig,
    options: &'a RunOptions,
    spec: DataSpec,
    splits: Splits,
    device: Device,
    model: AnyModel,
    num_params: usize,
    optimizer: ModuleOptimizer,
    face: Option<FaceTask<'a>>,
    batcher: Batcher,
    state: LoopState,
}

impl<'a> Run<'a> {
    /// Opens the run directory, reads the splits, builds the model and its optimisers, and
    /// restores them from `checkpoints/last` when resuming.
    fn prepare(dataset: &'a Dataset, config: &'a RunConfig, options: &'a RunOptions) -> Result<Self, TrainError> {
        let resumed = prepare_out_dir(options)?;
        if let Some(state) = &resumed
            && (state.config.model != config.model || state.config.seed != config.seed)
        {
            return Err(TrainError::Checkpoint {
                path: options.out_dir.clone(),
                message: format!(
                    "the saved run is {} (seed {}) with another configuration; resume it with the same settings",
                    state.config.model.name(),
                    state.config.seed
                ),
            });
        }
        if config.training.epochs == 0 || config.training.batch_size == 0 {
            return Err(TrainError::Config("epochs and batch size must be at least 1".into()));
        }
        let (spec, splits) = read_splits(dataset, config)?;
        let device: Device = config.backend.training_device()?;
        device.seed(config.seed);
        let model = config.model.build(&spec, &device)?;
        let face = face_task(config, &spec)?;
        let batcher = Batcher::new(config.training.batch_size);
        let total_steps = splits.train.len().div_ceil(batcher.batch_size) * config.training.epochs;
        let mut run = Self {
            num_params: model.num_params(),
            optimizer: build_optimizer(&config.training),
            state: LoopState::fresh(config, total_steps),
            dataset,
            config,
            options,
            spec,
            splits,
            device,
            model,
            face,
            batcher,
        };
        if let Some(state) = resumed {
            run.resume(state)?;
        }
        Ok(run)
    }

    /// Restores the model, the optimisers and the loop state of the last saved epoch.
    fn resume(&mut self, mut state: LoopState) -> Result<(), TrainError> {
        let last_dir = self.options.out_dir.join(files::LAST);
        self.model = Checkpoint::open(&last_dir)?.load_model(&self.device)?;
        let load = |slot: &mut ModuleOptimizer, empty: ModuleOptimizer, file: &str, what: &str| {
            let path = last_dir.join(file);
            let optimizer = std::mem::replace(slot, empty);
            *slot = optimizer
                .load(&path)
                .map_err(|e| TrainError::Checkpoint { path, message: format!("loading {what}: {e:?}") })?;
            Ok::<(), TrainError>(())
        };
        let empty = build_optimizer(&self.config.training);
        load(&mut self.optimizer, empty, files::OPTIMIZER, "the optimiser state")?;
        if let Some(face) = &mut self.face {
            let what = "the face-emotion optimiser state";
            load(&mut face.optimizer, face_emotion_optimizer(), files::FACE_OPTIMIZER, what)?;
        }
        state.config = self.config.clone();
        if self.options.verbose {
            eprintln!("resuming {} after epoch {}", self.options.out_dir.display(), state.epochs_done);
        }
        self.state = state;
        Ok(())
    }

    /// Runs the remaining epochs; returns whether early stopping ended them.
    fn epochs(&mut self) -> Result<bool, TrainError> {
        for epoch in self.state.epochs_done + 1..=self.config.training.epochs {
            if self.config.training.patience.is_some_and(|p| self.state.epochs_without_improvement >= p) {
                return Ok(true);
            }
            let started = Instant::now();
            let trained = self.train_epoch(epoch)?;
            let (valid, improved, valid_seconds) = self.validate_and_select(epoch)?;
            self.log_epoch(epoch, &trained, &valid, improved, valid_seconds);
            self.state.history.push(EpochRecord {
                epoch,
                lr: trained.lr,
                train: trained.result,
                valid,
                train_seconds: trained.seconds,
                valid_seconds,
                improved,
                face_emotions: trained.face,
            });
            self.state.epochs_done = epoch;
            self.save_last(epoch, started)?;
        }
        Ok(false)
    }

    /// The auxiliary pass (when the run has one), then one shuffled pass over the training split.
    fn train_epoch(&mut self, epoch: usize) -> Result<EpochTrain, TrainError> {
        let started = Instant::now();
        let seed = epoch_seed(self.config.seed, epoch);
        self.device.seed(seed);
        // the auxiliary task's pass comes first, as in the reference's epoch
        let face = match &mut self.face {
            Some(task) => {
                let model = self.model.clone();
                let (trained, result) = face_emotion_epoch(
                    model,
                    &task.set,
                    task.settings,
                    &mut task.optimizer,
                    seed ^ 0xFACE,
                    &self.device,
                )?;
                self.model = trained;
                if self.options.verbose {
                    eprintln!("epoch {epoch:>3} face emotions: loss {:.4} acc {:.4}", result.loss, result.accuracy);
                }
                Some(result)
            }
            None => None,
        };
        let plan = self.batcher.plan(&self.splits.train, Some(seed));
        let label = format!("epoch {epoch}/{}", self.config.training.epochs);
        let bar = progress::bar(plan.len(), &label, self.options.progress);
        let mut acc = PassAccumulator::default();
        let mut lr = self.state.scheduler.current();
        for (bi, ids) in plan.iter().enumerate() {
            let batch = self.batcher.load(self.dataset, ids, &self.device)?;
            let output = self.model.forward(&batch)?;
            let Some(loss) = output.total_loss() else {
                if batch.labels.is_some() {
                    return Err(TrainError::NoLoss(self.config.model.name().into()));
                }
                continue;
            };
            let value = acc.add(&output, &batch)?.unwrap_or(f32::NAN);
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss { epoch, batch: bi + 1, value });
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
            if let Some(max_norm) = self.config.training.grad_clip_norm {
                clip_grad_norm(&mut grads, &self.model, max_norm as f32);
            }
            lr = self.state.scheduler.next_lr();
            self.model = self.optimizer.step(lr, self.model.clone(), grads);
            bar.set_message(format!("loss {value:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let result = acc.finish(&self.spec.classes)?;
        Ok(EpochTrain { result, lr, face, seconds: started.elapsed().as_secs_f64() })
    }

    /// Scores the epoch's model on validation and keeps it as `checkpoints/best` when it is the
    /// best so far; returns the result, whether it improved, and the seconds it took.
    fn validate_and_select(&mut self, epoch: usize) -> Result<(SplitResult, bool, f64), TrainError> {
        let started = Instant::now();
        let eval_model = self.model.valid();
        let eval_device = self.device.clone().inner();
        let valid = evaluate(&eval_model, self.dataset, &self.splits.valid, &self.batcher, &eval_device, false)?;
        let score = self.config.selection.of(&valid.metrics);
        let improved = self.state.best_score.is_none_or(|b| score > b);
        if improved {
            self.state.best_score = Some(score);
            self.state.best_epoch = epoch;
            self.state.best_valid = Some(valid.clone());
            self.state.epochs_without_improvement = 0;
            Checkpoint::save(&self.options.out_dir.join(files::BEST), &self.meta(epoch), &eval_model)?;
        } else {
            self.state.epochs_without_improvement += 1;
        }
        self.state.scheduler.end_epoch(score);
        Ok((valid, improved, started.elapsed().as_secs_f64()))
    }

    /// Saves the epoch's model, optimisers and loop state (with the epoch's seconds, counted
    /// from `started`) to `checkpoints/last`, for `--resume`.
    fn save_last(&mut self, epoch: usize, started: Instant) -> Result<(), TrainError> {
        let last_dir = self.options.out_dir.join(files::LAST);
        Checkpoint::save(&last_dir, &self.meta(epoch), &self.model.valid())?;
        let save = |optimizer: &ModuleOptimizer, file: &str, what: &str| {
            let path = last_dir.join(file);
            optimizer.save(&path).map_err(|e| TrainError::Checkpoint { path, message: format!("saving {what}: {e:?}") })
        };
        save(&self.optimizer, files::OPTIMIZER, "the optimiser state")?;
        if let Some(face) = &self.face {
            save(&face.optimizer, files::FACE_OPTIMIZER, "the face-emotion optimiser state")?;
        }
        self.state.seconds += started.elapsed().as_secs_f64();
        write_json(&last_dir.join(files::STATE), &self.state)
    }

    /// What a checkpoint of epoch `epoch` records beside the weights.
    fn meta(&self, epoch: usize) -> CheckpointMeta {
        CheckpointMeta {
            format: CHECKPOINT_FORMAT.into(),
            run: self.config.clone(),
            spec: self.spec.clone(),
            epoch,
            speakers: self.dataset.manifest().speakers.clone(),
        }
    }

    /// One line per epoch on stderr, when verbose.
    fn log_epoch(&self, epoch: usize, trained: &EpochTrain, valid: &SplitResult, improved: bool, valid_seconds: f64) {
        if !self.options.verbose {
            return;
        }
        let train = &trained.result;
        eprintln!(
            "epoch {epoch:>3}/{}  train loss {:.4} wF1 {:.4} | valid loss {:.4} acc {:.4} wF1 {:.4} mF1 {:.4} | lr {:.2e} {:.1}s{}",
            self.config.training.epochs,
            train.loss.unwrap_or(f64::NAN),
            train.metrics.weighted_f1,
            valid.loss.unwrap_or(f64::NAN),
            valid.metrics.accuracy,
            valid.metrics.weighted_f1,
            valid.metrics.macro_f1,
            trained.lr,
            trained.seconds + valid_seconds,
            if improved { "  * selected" } else { "" }
        );
    }

    /// Scores the selected model on test, once, beside the majority-class baseline, and writes
    /// the report.
    fn finish(self, started: Instant, stopped_early: bool) -> Result<RunReport, TrainError> {
        let eval_device = self.device.clone().inner();
        let best = Checkpoint::open(&self.options.out_dir.join(files::BEST))?;
        let best_model = best.load_model(&eval_device)?;
        let (dataset, splits) = (self.dataset, &self.splits);
        let test = evaluate(&best_model, dataset, &splits.test, &self.batcher, &eval_device, self.options.progress)?;
        let majority_baseline_test = majority_baseline(dataset, splits, &self.spec.classes)?;
        let manifest = dataset.manifest();
        let report = RunReport {
            erc_version: env!("CARGO_PKG_VERSION").into(),
            config: self.config.clone(),
            dataset: DatasetSummary {
                name: manifest.name.clone(),
                path: dataset.root().display().to_string(),
                dialogues: manifest.splits.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
                classes: self.spec.classes.clone(),
            },
            num_params: self.num_params,
            epochs: self.state.history.clone(),
            selected_epoch: self.state.best_epoch,
            selected_valid: self.state.best_valid.clone().expect("at least one epoch ran"),
            test,
            majority_baseline_test,
            stopped_early,
            seconds: started.elapsed().as_secs_f64(),
        };
        write_json(&self.options.out_dir.join(files::REPORT), &report)?;
        Ok(report)
    }
}

/// The dataset facts the model is built from (with the training split's class counts) and the
/// three splits, each of which must hold a dialogue.
fn read_splits(dataset: &Dataset, config: &RunConfig) -> Result<(DataSpec, Splits), TrainError> {
    let mut spec = dataset.spec();
    let splits = Splits {
        train: dataset.split(&config.splits.train)?.to_vec(),
        valid: dataset.split(&config.splits.valid)?.to_vec(),
        test: dataset.split(&config.splits.test)?.to_vec(),
    };
    if splits.train.is_empty() || splits.valid.is_empty() || splits.test.is_empty() {
        return Err(TrainError::Config("the train, valid and test splits must each hold a dialogue".into()));
    }
    spec.train_class_counts = Some(dataset.class_counts(&splits.train));
    Ok((spec, splits))
}

/// The auxiliary face-emotion task, when the run asks for one and the model has it.
fn face_task<'a>(config: &'a RunConfig, spec: &DataSpec) -> Result<Option<FaceTask<'a>>, TrainError> {
    let Some(settings) = &config.face_emotions else { return Ok(None) };
    if !config.model.capabilities().face_emotion_task {
        return Err(TrainError::Config(format!(
            "model `{}` has no face-emotion task: drop the face-emotion set",
            config.model.name()
        )));
    }
    let faces = erc_core::sequences::sequence_shape(spec, erc_core::sequences::FACES)?;
    let set = load_face_emotions(settings, faces.width, &spec.classes)?;
    Ok(Some(FaceTask { settings, set, optimizer: face_emotion_optimizer() }))
}

/// The majority class of the training split, scored on the test split.
fn majority_baseline(
    dataset: &Dataset,
    splits: &Splits,
    classes: &[String],
) -> Result<erc_core::ClassificationReport, TrainError> {
    let counts = dataset.class_counts(&splits.train);
    let majority = (0..counts.len()).max_by_key(|&c| (counts[c], std::cmp::Reverse(c))).unwrap_or(0);
    let truth: Vec<usize> = splits
        .test
        .iter()
        .flat_map(|&d| {
            let info = dataset.dialogue(d);
            dataset.labels(info.start, info.end).to_vec()
        })
        .filter(|&y| y >= 0)
        .map(|y| y as usize)
        .collect();
    Ok(classification_report(&truth, &vec![majority; truth.len()], classes)?)
}
