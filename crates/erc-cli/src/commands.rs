//! The subcommands of `erc`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use erc_core::training::{LrSchedule, OptimizerKind};
use erc_core::{BackendKind, MetricKind};
use erc_data::synth::SynthShape;
use erc_data::{Dataset, ImportOptions, SynthConfig, import_jsonl};
use erc_train::config::FaceEmotionTraining;
use erc_train::{Checkpoint, RunConfig, RunOptions, train, train_seeds};

/// A boxed error with a readable message.
pub type CliError = Box<dyn std::error::Error>;

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
    Synth(SynthArgs),
    /// Import JSONL transcripts ({id, split, utterances: [{speaker, text, emotion}]}) as a dataset skeleton.
    Import(ImportChoices),
    /// Encode JSONL transcripts with a sentence encoder into a dataset with the `text` modality.
    Featurize(FeaturizeArgs),
    /// Predict per-utterance emotions of JSONL dialogues with a checkpoint and its text encoder.
    Predict(PredictArgs),
    /// Show a dataset's sizes, modalities and class balance.
    Info(InfoArgs),
    /// List the registered models and their presets.
    Models,
    /// Train a model; select the epoch on validation, score test once.
    Train(TrainArgs),
    /// Score a checkpoint on a dataset split.
    Eval(EvalArgs),
    /// Check a model against a reference parity fixture (FIXTURE.safetensors with FIXTURE.json beside it).
    Parity(ParityArgs),
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// Output dataset directory (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Shape family: iemocap or meld.
    #[arg(long, default_value = "iemocap")]
    shape: SynthShape,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dialogues per split as TRAIN,VALID,TEST (default: the shape's).
    #[arg(long, value_parser = parse_triple)]
    dialogues: Option<[usize; 3]>,
    /// Feature dimensions as TEXT,AUDIO,VISUAL (default: the shape's).
    #[arg(long, value_parser = parse_triple)]
    dims: Option<[usize; 3]>,
    /// Per-utterance sequences (text_tokens, audio_frames, faces with masks) for FacialMMT,
    /// MELD-like; --dims then sets each frame's width.
    #[arg(long)]
    sequences: bool,
    /// Also write a matching auxiliary face-emotion set (needs --sequences) to this directory.
    #[arg(long, requires = "sequences")]
    face_emotions: Option<PathBuf>,
    /// Faces in the auxiliary set.
    #[arg(long, default_value_t = 3000)]
    face_count: usize,
}

/// Which transcripts become which dataset, and how (shared by `import` and `featurize`).
#[derive(Debug, Args)]
struct ImportChoices {
    /// JSONL transcript file.
    #[arg(long)]
    transcripts: PathBuf,
    /// Output dataset directory (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Class names in index order, comma-separated (default: IEMOCAP's or MELD's order when the labels fit).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
    /// Share of training dialogues held out for validation when the file has no `valid` split.
    #[arg(long, default_value_t = 0.1)]
    valid_share: f64,
    /// Seed of that hold-out.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl ImportChoices {
    fn options(&self) -> ImportOptions {
        ImportOptions {
            classes: self.classes.clone(),
            valid_share: self.valid_share,
            seed: self.seed,
            ..ImportOptions::default()
        }
    }
}

#[derive(Debug, Args)]
struct FeaturizeArgs {
    /// Encoder directory (Hugging Face layout: config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    encoder: PathBuf,
    #[command(flatten)]
    choices: ImportChoices,
    /// Texts per forward pass.
    #[arg(long, default_value_t = erc_text::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// Checkpoint directory (RUN/checkpoints/best) of a model trained on text features.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The encoder directory the training data was featurized with.
    #[arg(long)]
    encoder: PathBuf,
    /// JSONL dialogues ({id, utterances: [{speaker, text}]}; labels optional); `-` for standard input.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Dialogues per batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
}

#[derive(Debug, Args)]
struct InfoArgs {
    /// Dataset directory.
    dataset: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TrainArgs {
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
enum ClipArg {
    Off,
    Norm(f64),
}

#[derive(Debug, Args)]
struct EvalArgs {
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

#[derive(Debug, Args)]
struct ParityArgs {
    /// The fixture's .safetensors file; the model is read from the .json beside it.
    fixture: PathBuf,
    /// For a sentence-encoder fixture (e.g. ../shared/fixtures/minilm): the encoder directory.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
}

fn parse_triple(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> =
        s.split(',').map(|p| p.trim().parse::<usize>().map_err(|e| format!("`{p}`: {e}"))).collect::<Result<_, _>>()?;
    parts.try_into().map_err(|_| "expected three comma-separated numbers".to_string())
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

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(a) => synth(a),
        Command::Import(a) => import(a),
        Command::Featurize(a) => featurize(a),
        Command::Predict(a) => crate::predict::predict(a.checkpoint, a.encoder, a.input, a.batch_size, a.backend),
        Command::Info(a) => info(a),
        Command::Models => {
            for m in erc_models::models() {
                println!("{:<8} {}  (presets: {})", m.name, m.description, m.presets.join(", "));
            }
            Ok(())
        }
        Command::Train(a) => train_command(a),
        Command::Eval(a) => eval(a),
        Command::Parity(a) => parity(a),
    }
}

fn synth_config(shape: SynthShape, seed: u64, dialogues: Option<[usize; 3]>, dims: Option<[usize; 3]>) -> SynthConfig {
    let mut cfg = SynthConfig::for_shape(shape, seed);
    if let Some([t, v, s]) = dialogues {
        cfg = cfg.with_dialogues(t, v, s);
    }
    if let Some(d) = dims {
        cfg = cfg.with_dims(&d);
    }
    cfg
}

fn synth(a: SynthArgs) -> Result<(), CliError> {
    let cfg = if a.sequences {
        let mut cfg = SynthConfig::meld_sequences(a.seed);
        if let Some([t, v, s]) = a.dialogues {
            cfg = cfg.with_dialogues(t, v, s);
        }
        if let Some(d) = a.dims {
            cfg = cfg.with_dims(&d);
        }
        cfg
    } else {
        synth_config(a.shape, a.seed, a.dialogues, a.dims)
    };
    if let Some(dir) = &a.face_emotions {
        erc_data::writer::ensure_writable_target(dir)?;
    }
    write_synthetic(&cfg, &a.out)?;
    println!("wrote {} to {}", cfg.name, a.out.display());
    if let Some(dir) = &a.face_emotions {
        cfg.face_emotion_set(a.face_count)?.write(dir)?;
        println!("wrote {} auxiliary faces to {}", a.face_count, dir.display());
    }
    Ok(())
}

fn write_synthetic(cfg: &SynthConfig, out: &Path) -> Result<(), CliError> {
    erc_data::writer::ensure_writable_target(out)?;
    let builder = cfg.generate()?;
    builder.write(out)?;
    Ok(())
}

fn import(a: ImportChoices) -> Result<(), CliError> {
    erc_data::writer::ensure_writable_target(&a.out)?;
    let builder = import_jsonl(&a.transcripts, &a.options())?;
    builder.write(&a.out)?;
    let m = builder.manifest();
    println!(
        "imported {} dialogues / {} utterances into {} (classes: {}; no feature modality yet)",
        m.dialogue_ids.len(),
        m.num_utterances,
        a.out.display(),
        m.classes.join(", ")
    );
    Ok(())
}

fn featurize(a: FeaturizeArgs) -> Result<(), CliError> {
    let out = &a.choices.out;
    erc_data::writer::ensure_writable_target(out)?;
    let device = a.backend.device()?;
    let encoder = erc_text::SentenceEncoder::load(&a.encoder, &device)?.with_batch_size(a.batch_size);
    let options = erc_text::FeaturizeOptions { import: a.choices.options(), ..Default::default() };
    let bar = erc_train::progress::bar(0, "featurize", !a.no_progress);
    let summary = erc_text::featurize(&encoder, &a.choices.transcripts, out, &options, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    println!(
        "featurized {} dialogues / {} utterances into {} (text {}-d) in {:.1} s ({:.0} utterances/s)",
        summary.dialogues,
        summary.utterances,
        out.display(),
        summary.dim,
        summary.seconds,
        summary.utterances as f64 / summary.seconds.max(1e-9)
    );
    Ok(())
}

fn info(a: InfoArgs) -> Result<(), CliError> {
    let ds = Dataset::open(&a.dataset)?;
    let m = ds.manifest();
    if a.json {
        let mut splits = serde_json::Map::new();
        for (name, ids) in &m.splits {
            let utterances: usize = ids.iter().map(|&d| ds.dialogue(d).len()).sum();
            splits.insert(
                name.clone(),
                serde_json::json!({"dialogues": ids.len(), "utterances": utterances, "class_counts": ds.class_counts(ids)}),
            );
        }
        let out = serde_json::json!({
            "name": m.name, "source": m.source, "classes": m.classes, "modalities": m.modalities,
            "speakers": m.speakers.len(), "dialogues": m.dialogue_ids.len(),
            "utterances": m.num_utterances, "has_text": m.has_text, "splits": splits,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}  ({})", m.name, if m.source.is_empty() { "no source recorded" } else { &m.source });
    println!(
        "dialogues {}  utterances {}  speakers {}  text {}",
        m.dialogue_ids.len(),
        m.num_utterances,
        m.speakers.len(),
        if m.has_text { "yes" } else { "no" }
    );
    if m.modalities.is_empty() {
        println!("modalities: none (a skeleton: extract features before training)");
    } else {
        let list: Vec<String> = m.modalities.iter().map(|x| format!("{} {}", x.name, x.dim)).collect();
        println!("modalities: {}", list.join(", "));
    }
    let width = m.classes.iter().map(String::len).max().unwrap_or(0).max(11);
    print!("{:<8} {:>9} {:>10}", "split", "dialogues", "utterances");
    for c in &m.classes {
        print!(" {c:>width$}");
    }
    println!();
    for name in split_order(m.splits.keys()) {
        let ids = &m.splits[&name];
        let utterances: usize = ids.iter().map(|&d| ds.dialogue(d).len()).sum();
        print!("{name:<8} {:>9} {utterances:>10}", ids.len());
        let counts = ds.class_counts(ids);
        let total: usize = counts.iter().sum::<usize>().max(1);
        for n in counts {
            print!(" {:>width$}", format!("{n} ({:.0}%)", 100.0 * n as f64 / total as f64));
        }
        println!();
    }
    Ok(())
}

/// Split names with train, valid and test first, then the others alphabetically.
fn split_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    let rank = |n: &str| ["train", "valid", "test"].iter().position(|s| *s == n).unwrap_or(3);
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names
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

fn train_command(a: TrainArgs) -> Result<(), CliError> {
    if a.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
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
    set_if_given(&mut t.schedule, a.schedule);
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

    let (dataset_dir, out_dir) = match (&a.dataset, &a.out) {
        (Some(d), out) => {
            let name = d.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
            (d.clone(), out.clone().unwrap_or_else(|| default_run_dir(&a.model, &name)))
        }
        (None, out) => {
            let out = out.clone().unwrap_or_else(|| default_run_dir(&a.model, "synthetic"));
            let data = out.join("data");
            if !data.join("manifest.json").is_file() {
                if a.resume {
                    return Err(format!("nothing to resume in {}", out.display()).into());
                }
                erc_data::writer::ensure_writable_target(&out)?;
                let sequences = a.model == <erc_models::FacialMmtModel as erc_models::ModelFactory>::NAME;
                let cfg =
                    if sequences { SynthConfig::meld_sequences(0) } else { SynthConfig::for_shape(a.synthetic, 0) };
                eprintln!("no --dataset: generating {} into {}", cfg.name, data.display());
                write_synthetic(&cfg, &data)?;
                if sequences && a.face_emotions.is_none() {
                    cfg.face_emotion_set(3000)?.write(&out.join("face_emotions"))?;
                }
            }
            if a.model == <erc_models::FacialMmtModel as erc_models::ModelFactory>::NAME && a.face_emotions.is_none() {
                // 3,000 synthetic faces give 20 steps per pass: the reference's 5e-5 (tuned for
                // Aff-Wild2's hundreds of thousands of frames) would leave the head untrained
                let faces = FaceEmotionTraining::reference(out.join("face_emotions"));
                config.face_emotions = Some(FaceEmotionTraining { lr: 1e-3, ..faces });
            }
            (data, out)
        }
    };
    let dataset = Dataset::open(&dataset_dir)?;
    let options = RunOptions { out_dir: out_dir.clone(), resume: a.resume, progress: !a.no_progress, verbose: true };
    eprintln!(
        "training {} ({}) on {} with {} — run directory {}",
        config.model,
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
        let multi = train_seeds(&dataset, &config, &seeds, &options)?;
        let s = &multi.summary;
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

fn eval(a: EvalArgs) -> Result<(), CliError> {
    let checkpoint = Checkpoint::open(&a.checkpoint)?;
    let dataset = Dataset::open(&a.dataset)?;
    let result =
        erc_train::evaluate::evaluate_checkpoint(&checkpoint, &dataset, &a.split, a.backend, a.batch_size, !a.json)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "{} (epoch {}) on {} / {}:",
            checkpoint.meta.run.model,
            checkpoint.meta.epoch,
            dataset.manifest().name,
            a.split
        );
        print!("{}", result.metrics);
    }
    Ok(())
}

/// Compares a sentence encoder with a sentence-transformers fixture; prints one JSON line.
fn encoder_parity(a: ParityArgs) -> Result<(), CliError> {
    let dir = a.encoder.ok_or("this is a sentence-encoder fixture: pass the encoder directory with --encoder DIR")?;
    let fixture = erc_text::parity::EncoderFixture::read(&a.fixture)?;
    let encoder = erc_text::SentenceEncoder::load(&dir, &a.backend.device()?)?;
    let r = erc_text::parity::compare(&encoder, &fixture)?;
    let pass = r.passes(&fixture.bounds);
    let line = serde_json::json!({
        "encoder": dir.display().to_string(), "sentences": r.sentences, "token_mismatches": r.token_mismatches,
        "normalized_max_abs": r.normalized_max_abs, "normalized_min_cosine": r.normalized_min_cosine,
        "mean_pooled_max_abs": r.mean_pooled_max_abs, "token_max_abs": r.token_max_abs, "pass": pass,
    });
    println!("{line}");
    if pass { Ok(()) } else { Err(format!("encoder parity failed (bounds: {:?})", fixture.bounds).into()) }
}

/// Prints one JSON line `{model, case, max_abs_output_err, max_grad_err, pass}`; the failed
/// comparisons go to stderr and make the command fail.
fn parity(a: ParityArgs) -> Result<(), CliError> {
    if erc_text::parity::is_encoder_fixture(&a.fixture) {
        return encoder_parity(a);
    }
    let report = erc_models::parity::run_parity(&a.fixture, a.backend)?;
    println!("{}", serde_json::to_string(&report)?);
    for failure in &report.failures {
        eprintln!("out of tolerance: {failure}");
    }
    if report.pass {
        Ok(())
    } else {
        Err(format!("parity failed: {} comparison(s) out of tolerance", report.failures.len()).into())
    }
}
