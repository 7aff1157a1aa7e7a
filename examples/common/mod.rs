//! What every paper example does: pick a backend, generate (or open) the data, train a
//! registered model from its preset, and report the test metrics of the epoch selected on
//! validation (the references select on test; we never do).
//!
//! Options: `--shape iemocap|meld` (synthetic data shape, default iemocap), `--preset NAME`
//! (default: the shape's name), `--data DIR` (an erc-data dataset instead of synthetic data),
//! `--epochs N`, `--backend flex|ndarray|wgpu|cuda`. Synthetic data is generated into a temporary
//! directory and removed afterwards.

use erc::core::BackendKind;
use erc::data::{Dataset, SynthConfig};
use erc::train::{RunConfig, RunOptions, train};

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The `--backend` option (default flex), checked to be compiled in.
pub fn backend_arg() -> Result<BackendKind, Box<dyn std::error::Error>> {
    let backend: BackendKind = arg("--backend").map(|b| b.parse()).transpose()?.unwrap_or(BackendKind::Flex);
    backend.device()?; // a clear message when the backend is not compiled in
    Ok(backend)
}

/// The `--data` directory, or synthetic data from `synth` generated into `work/data`.
pub fn data_dir(work: &std::path::Path, synth: &SynthConfig) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    match arg("--data") {
        Some(dir) => Ok(dir.into()),
        None => {
            let dir = work.join("data");
            synth.generate()?.write(&dir)?;
            Ok(dir)
        }
    }
}

/// Trains registered model `model` (shown as `title`) as the options above say.
#[allow(dead_code)] // the FacialMMT example needs its auxiliary set and uses `arg` only
pub fn run_paper_example(model: &str, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let backend = backend_arg()?;
    let shape = arg("--shape").unwrap_or_else(|| "iemocap".into());
    let synth = match shape.as_str() {
        "iemocap" => SynthConfig::iemocap_like(0),
        "meld" => SynthConfig::meld_like(0),
        other => return Err(format!("--shape {other}: use iemocap or meld").into()),
    };
    let preset = arg("--preset").unwrap_or_else(|| shape.clone());
    let work = std::env::temp_dir().join(format!("erc-{model}-{}", std::process::id()));
    let dataset = Dataset::open(data_dir(&work, &synth)?)?;
    let mut config = RunConfig::from_preset(model, Some(&preset))?;
    config.backend = backend;
    if let Some(epochs) = arg("--epochs") {
        config.training.epochs = epochs.parse()?;
    }
    let mut options = RunOptions::quiet(work.join("run"));
    options.verbose = true;
    let report = train(&dataset, &config, &options)?;
    print_report(title, &preset, &report, config.training.epochs);
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}

/// Prints the selected epoch and the test metrics of a run.
pub fn print_report(title: &str, preset: &str, report: &erc::train::RunReport, epochs: usize) {
    println!(
        "{title} ({preset} preset) on {}: selected epoch {} of {epochs} on validation (weighted-F1 {:.4})",
        report.dataset.name, report.selected_epoch, report.selected_valid.metrics.weighted_f1
    );
    println!("{}", report.test.metrics);
}
