//! `erc parity`: a model (or a sentence encoder) checked against a reference parity fixture.

use std::path::PathBuf;

use clap::Args;
use erc_core::BackendKind;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct ParityArgs {
    /// The fixture's .safetensors file; the model is read from the .json beside it.
    fixture: PathBuf,
    /// For a sentence-encoder fixture (e.g. ../shared/fixtures/minilm): the encoder directory.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Backend: flex, ndarray, wgpu or cuda.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
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
pub fn run(a: ParityArgs) -> Result<(), CliError> {
    if erc_text::parity::is_encoder_fixture(&a.fixture) {
        return encoder_parity(a);
    }
    let report = erc_models::run_parity(&a.fixture, a.backend)?;
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
