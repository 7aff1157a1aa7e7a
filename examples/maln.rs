//! Train MALN with its preset (speaker-characteristic transformers, adversarial common/specific
//! decomposition, text ↔ audio-visual fusion; NLL + 0.1·unimodal + 5e-6·orthogonality +
//! 0.01·adversarial, Adam lr 4e-4) and report the test metrics of the epoch selected on
//! validation.
//!
//! ```text
//! cargo run --release --example maln                       # synthetic IEMOCAP-like, iemocap preset
//! cargo run --release --example maln -- --shape meld       # synthetic MELD-like, meld preset
//! cargo run --release --example maln -- --data DIR --preset meld
//! cargo run --release --example maln -- --epochs 20 --backend ndarray
//! ```
//! The IEMOCAP preset runs 60 epochs; `--epochs` shortens it.

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run_paper_example("maln", "MALN")
}
