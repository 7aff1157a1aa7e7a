//! Train MultiEMO with its paper preset (DialogueRNN context, cross-attention fusion, Soft-HGR +
//! SWFC + cross-entropy, Adam lr 1e-4) and report the test metrics of the epoch selected on
//! validation (the reference selects on test; we never do).
//!
//! ```text
//! cargo run --release --example multiemo                       # synthetic IEMOCAP-like, iemocap preset
//! cargo run --release --example multiemo -- --shape meld       # synthetic MELD-like, meld preset
//! cargo run --release --example multiemo -- --data DIR --preset meld
//! cargo run --release --example multiemo -- --epochs 20 --backend ndarray
//! ```
//! The IEMOCAP preset runs 100 epochs (about 45 minutes on 2 CPU cores); `--epochs` shortens it.

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run_paper_example("multiemo", "MultiEMO")
}
