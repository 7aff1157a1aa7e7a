//! MM-DFN at the IEMOCAP preset (real feature widths 100/1582/342, depth 16): inference on a
//! batch of 32 dialogues with IEMOCAP's real lengths and speakers, and one training step
//! (forward, focal loss, backward, Adam), on every compiled backend. Throughput in dialogues/s.
//!
//! ```text
//! cargo bench --bench mm_dfn
//! ```
//! Whole-epoch figures (the comparison with the PyTorch reference) come from
//! `cargo bench --bench epoch -- mm-dfn`.

mod common;

use common::{PresetWorkload, bench_preset};
use criterion::{Criterion, criterion_group, criterion_main};
use erc::models::mm_dfn::MmDfnModel;

fn bench(c: &mut Criterion) {
    let iemocap = PresetWorkload {
        model: "mm-dfn",
        preset: "iemocap",
        dataset: "iemocap",
        dims: [("text", 100), ("audio", 1582), ("visual", 342)],
        classes: 6,
        slots: 2,
    };
    bench_preset::<MmDfnModel>(c, &iemocap, 32);
}

criterion_group!(benches, bench);
criterion_main!(benches);
