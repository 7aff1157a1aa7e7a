//! `erc train`: a model trained on a dataset (or on generated synthetic data), the epoch
//! selected on validation and scored once on test, over one seed or several.

use std::path::PathBuf;

use clap::Args;
use erc_core::training::{LrSchedule, OptimizerKind};
use erc_core::{BackendKind, MetricKind};
use erc_data::synth::SynthShape;
use erc_data::{Dataset, SynthConfig};
use erc_train::config::FaceEmotionTraining;
use erc_train::{RunConfig, RunOptions, train, train_seeds};

use super::synth::write_synthetic;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset directory. Without it, a synthetic IEMOCAP-like dataset is generated into OUT/data.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Shape of the generated dataset when --dataset is not given: iemocap or meld
    /// (FacialMMT always gets MELD-like sequences and a matching face-emotion set).
    #[arg(long, default_value = "iemocap")]
    synthetic: SynthShape,
    /// Auxiliary face-emotion set (FacialMMT's facial-expression head trains on it before each epoch).
    #[arg(long)]
    face_emotions: Option<PathBuf>,
    /// Model name (see `erc models`).
    #[arg(long, default_value = "bigru")]
    model: String,
    /// Preset of the model (default: its first).
    #[arg(long)]
    preset: Option<String>,
    /// JSON object overriding model configuration fields, e.g. '{"hidden": 64}'.
    #[arg(long)]
    model_config: Option<String>,
    /// Maximum number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Dialogues per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Weight decay (L2 for adam, decoupled for adamw).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Optimiser: adam or adamw.
    #[arg(long, value_parser = parse_optimizer)]
    optimizer: Option<OptimizerKind>,
    /// Clip the global gradient norm (a number, or `none`).
    #[arg(long, value_parser = parse_clip)]
    grad_clip: Option<ClipArg>,
    /// Learning-rate schedule: constant, plateau[:FACTOR:PATIENCE] or warmup:STEPS.
    #[arg(long, value_parser = parse_schedule)]
    schedule: Option<LrSchedule>,
    /// Early-stopping patience in epochs (`0` disables early stopping).
    #[arg(long)]
    patience: Option<usize>,
    /// Validation metric that selects the epoch: weighted_f1, macro_f1 or accuracy.
    #[arg(long, default_value = "weighted_f1")]
    select: MetricKind,
    /// Seed (the first seed with --seeds).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Repeat the run over this many consecutive seeds and report mean ± std.
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Backend: flex, ndarray, wgpu or cuda (must be compiled in).
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// Run directory (default: runs/MODEL-DATASET-TIMESTAMP). Must not hold a run unless --resume.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last saved epoch.
    #[arg(long, requires = "out")]
    resume: bool,
    /// No progress bars (epoch lines are still printed).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Clone, Copy)]
/// A `--grad-clip` value.
enum ClipArg {
    Off,
    Norm(f64),
}

fn parse_optimizer(s: &str) -> Result<OptimizerKind, String> {
    match s.to_ascii_lowercase().as_str() {
        "adam" => Ok(OptimizerKind::Adam),
        "adamw" => Ok(OptimizerKind::AdamW),
        _ => Err(format!("unknown optimiser `{s}`: expected adam or adamw")),
    }
}

fn parse_clip(s: &str) -> Result<ClipArg, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(ClipArg::Off);
    }
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(ClipArg::Norm(v)),
        _ => Err(format!("`{s}`: expected a positive number or `none`")),
    }
}

fn parse_schedule(s: &str) -> Result<LrSchedule, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |p: &str| p.parse::<f64>().map_err(|e| format!("`{p}`: {e}"));
    match parts.as_slice() {
        ["constant"] => Ok(LrSchedule::Constant),
        ["plateau"] => Ok(LrSchedule::Plateau { factor: 0.5, patience: 3, min_lr: 1e-6 }),
        ["plateau", f, p] => Ok(LrSchedule::Plateau { factor: num(f)?, patience: num(p)? as usize, min_lr: 1e-6 }),
        ["warmup", steps] => Ok(LrSchedule::LinearWarmupDecay { warmup_steps: num(steps)? as usize }),
        _ => Err(format!("`{s}`: expected constant, plateau, plateau:FACTOR:PATIENCE or warmup:STEPS")),
    }
}

fn default_run_dir(model: &str, dataset: &str) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    PathBuf::from("runs").join(format!("{model}-{dataset}-{secs}"))
}

/// Overwrites `slot` with a command-line value when one was given.
fn set_if_given<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Runs `erc train`.
pub fn run(a: TrainArgs) -> Result<(), CliError> {
    if a.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    let mut config = run_config(&a)?;
    let (dataset_dir, out_dir) = match &a.dataset {
        Some(d) => {
            let name = d.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
            (d.clone(), a.out.clone().unwrap_or_else(|| default_run_dir(&a.model, &name)))
        }
        None => synthetic_data(&a, &mut config)?,
    };
    let dataset = Dataset::open(&dataset_dir)?;
    let options = RunOptions { out_dir: out_dir.clone(), resume: a.resume, progress: !a.no_progress, verbose: true };
    eprintln!(
        "training {} ({}) on {} with {} — run directory {}",
        config.model.name(),
        config.preset,
        dataset.manifest().name,
        config.backend,
        out_dir.display()
    );
    if a.seeds == 1 {
        let report = train(&dataset, &config, &options)?;
        println!(
            "selected epoch {} (validation {} {:.4})",
            report.selected_epoch,
            config.selection,
            config.selection.of(&report.selected_valid.metrics)
        );
        println!("test, scored once with the selected model:");
        print!("{}", report.test.metrics);
        println!(
            "majority-class baseline on test: accuracy {:.4}, weighted-F1 {:.4}",
            report.majority_baseline_test.accuracy, report.majority_baseline_test.weighted_f1
        );
        println!("report: {}", out_dir.join("report.json").display());
    } else {
        let seeds: Vec<u64> = (0..a.seeds as u64).map(|i| a.seed + i).collect();
        let s = train_seeds(&dataset, &config, &seeds, &options)?.summary;
        println!("test over {} seeds {:?} (mean ± std):", seeds.len(), seeds);
        println!("  accuracy    {}", s.accuracy);
        println!("  weighted-F1 {}", s.weighted_f1);
        println!("  macro-F1    {}", s.macro_f1);
        for (class, f1) in &s.per_class_f1 {
            println!("  F1 {class:<10} {f1}");
        }
        println!("summary: {}", out_dir.join("summary.json").display());
    }
    Ok(())
}

/// The run configuration: the model's preset with the command line's overrides.
fn run_config(a: &TrainArgs) -> Result<RunConfig, CliError> {
    let mut config = RunConfig::from_preset(&a.model, a.preset.as_deref())?;
    if let Some(json) = &a.model_config {
        let patch: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("--model-config is not JSON: {e}"))?;
        config.override_model_config(&patch)?;
    }
    let t = &mut config.training;
    set_if_given(&mut t.epochs, a.epochs);
    set_if_given(&mut t.batch_size, a.batch_size);
    set_if_given(&mut t.lr, a.lr);
    set_if_given(&mut t.weight_decay, a.weight_decay);
    set_if_given(&mut t.optimizer, a.optimizer);
    set_if_given(&mut t.schedule, a.schedule.clone());
    match a.grad_clip {
        Some(ClipArg::Off) => t.grad_clip_norm = None,
        Some(ClipArg::Norm(v)) => t.grad_clip_norm = Some(v),
        None => {}
    }
    if let Some(p) = a.patience {
        t.patience = (p > 0).then_some(p);
    }
    if let Some(dir) = &a.face_emotions {
        config.face_emotions = Some(FaceEmotionTraining::reference(dir));
    }
    config.selection = a.select;
    config.seed = a.seed;
    config.backend = a.backend;
    a.backend.device()?; // a clear error now if the backend is not compiled in
    Ok(config)
}

/// Without `--dataset`: the dataset (and, for a model with the face-emotion task, a face-emotion
/// set) generated into `OUT/data` unless it is there already. The model's capabilities choose
/// what to generate: per-utterance sequences for a model that reads them.
fn synthetic_data(a: &TrainArgs, config: &mut RunConfig) -> Result<(PathBuf, PathBuf), CliError> {
    let capabilities = config.model.capabilities();
    let out = a.out.clone().unwrap_or_else(|| default_run_dir(&a.model, "synthetic"));
    let data = out.join("data");
    let faces = out.join("face_emotions");
    let face_task = capabilities.face_emotion_task && a.face_emotions.is_none();
    if !data.join("manifest.json").is_file() {
        if a.resume {
            return Err(format!("nothing to resume in {}", out.display()).into());
        }
        erc_data::writer::ensure_writable_target(&out)?;
        let cfg = if capabilities.sequence_inputs {
            SynthConfig::meld_sequences(0)
        } else {
            SynthConfig::for_shape(a.synthetic, 0)
        };
        eprintln!("no --dataset: generating {} into {}", cfg.name, data.display());
        write_synthetic(&cfg, &data)?;
        if face_task {
            cfg.face_emotion_set(3000)?.write(&faces)?;
        }
    }
    if face_task {
        // 3,000 synthetic faces give 20 steps per pass: the reference's 5e-5 (tuned for
        // Aff-Wild2's hundreds of thousands of frames) would leave the head untrained
        config.face_emotions = Some(FaceEmotionTraining { lr: 1e-3, ..FaceEmotionTraining::reference(faces) });
    }
    Ok((data, out))
}
