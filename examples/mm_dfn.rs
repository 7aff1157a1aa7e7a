//! Train MM-DFN with its IEMOCAP preset (depth 16, focal loss, speaker weights 3-0-1, Adam
//! lr 3e-4) and report the test metrics of the epoch selected on validation.
//!
//! ```text
//! cargo run --release --example mm_dfn                      # synthetic IEMOCAP-like data
//! cargo run --release --example mm_dfn -- --shape meld      # synthetic MELD-like, meld preset
//! cargo run --release --example mm_dfn -- --data DIR        # an erc-data dataset
//! cargo run --release --example mm_dfn -- --epochs 10 --backend ndarray
//! ```

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run_paper_example("mm-dfn", "MM-DFN")
}
