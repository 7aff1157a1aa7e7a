//! Train MM-DFN with its IEMOCAP preset (depth 16, focal loss, speaker weights 3-0-1, Adam
//! lr 3e-4) and report the test metrics of the epoch selected on validation.
//!
//! ```text
//! cargo run --release --example mm_dfn                      # synthetic IEMOCAP-like data
//! cargo run --release --example mm_dfn -- --data DIR        # an erc-data dataset
//! cargo run --release --example mm_dfn -- --epochs 10 --backend ndarray
//! ```
//! The synthetic default is generated into a temporary directory and removed afterwards.

use erc::core::BackendKind;
use erc::data::{Dataset, SynthConfig};
use erc::train::{RunConfig, RunOptions, train};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend: BackendKind = arg("--backend").map(|b| b.parse()).transpose()?.unwrap_or(BackendKind::Flex);
    backend.device()?; // a clear message when the backend is not compiled in
    let work = std::env::temp_dir().join(format!("erc-mm-dfn-{}", std::process::id()));
    let data_dir = match arg("--data") {
        Some(dir) => dir.into(),
        None => {
            let dir = work.join("data");
            SynthConfig::iemocap_like(0).generate()?.write(&dir)?;
            dir
        }
    };
    let dataset = Dataset::open(&data_dir)?;
    let mut config = RunConfig::from_preset("mm-dfn", Some("iemocap"))?;
    config.backend = backend;
    if let Some(epochs) = arg("--epochs") {
        config.training.epochs = epochs.parse()?;
    }
    let mut options = RunOptions::quiet(work.join("run"));
    options.verbose = true;
    let report = train(&dataset, &config, &options)?;
    println!(
        "MM-DFN (iemocap preset) on {}: selected epoch {} on validation (weighted-F1 {:.4})",
        report.dataset.name, report.selected_epoch, report.selected_valid.metrics.weighted_f1
    );
    println!("{}", report.test.metrics);
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}
