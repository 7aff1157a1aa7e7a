//! MultiEMO at both paper presets with the real feature widths (768/512/1000): inference on a
//! batch of 32 dialogues with the dataset's real lengths and speakers, and one training step
//! (forward, Soft-HGR + SWFC + CE, backward, Adam), on every compiled backend. Throughput in
//! dialogues/s.
//!
//! ```text
//! cargo bench --bench multiemo
//! ```
//! Whole-epoch figures (the comparison with the PyTorch reference) come from
//! `cargo bench --bench epoch -- multiemo`.

mod common;

use common::{PresetWorkload, bench_preset};
use criterion::{Criterion, criterion_group, criterion_main};
use erc::models::multiemo::MultiEmoModel;

const DIMS: [(&str, usize); 3] = [("text", 768), ("audio", 512), ("visual", 1000)];

fn bench(c: &mut Criterion) {
    for (preset, classes, slots) in [("iemocap", 6, 2), ("meld", 7, 9)] {
        let workload = PresetWorkload { model: "multiemo", preset, dataset: preset, dims: DIMS, classes, slots };
        bench_preset::<MultiEmoModel>(c, &workload, 32);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
