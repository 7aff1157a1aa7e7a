//! Train the reference BiGRU on a small synthetic dataset through the library API, then
//! compare it with the context-free MLP baseline.
//!
//! ```text
//! cargo run --example reference_bigru -- [--backend flex|ndarray|wgpu|cuda]
//! ```

use erc::core::BackendKind;
use erc::data::{Dataset, SynthConfig};
use erc::train::{RunConfig, RunOptions, train};

fn backend_from_args() -> Result<BackendKind, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--backend") {
        Some(i) => Ok(args.get(i + 1).ok_or("--backend needs a value")?.parse()?),
        None => Ok(BackendKind::Flex),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = backend_from_args()?;
    backend.device()?; // a clear message when the backend is not compiled in
    let work = std::env::temp_dir().join(format!("erc-example-{}", std::process::id()));
    let data_dir = work.join("data");
    SynthConfig::iemocap_like(0).with_dims(&[32, 32, 32]).with_dialogues(60, 12, 20).generate()?.write(&data_dir)?;
    let dataset = Dataset::open(&data_dir)?;

    for model in ["bigru", "mlp"] {
        let mut config = RunConfig::from_preset(model, None)?;
        config.training.epochs = 15;
        config.backend = backend;
        let report = train(&dataset, &config, &RunOptions::quiet(work.join(model)))?;
        println!(
            "{model:>5}: test weighted-F1 {:.4}, accuracy {:.4} (selected epoch {} on validation)",
            report.test.metrics.weighted_f1, report.test.metrics.accuracy, report.selected_epoch
        );
    }
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
