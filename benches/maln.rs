//! MALN at the IEMOCAP preset with the reference's feature widths (text 1024, audio 100,
//! visual 512): inference on a batch of 32 dialogues with IEMOCAP's real lengths and speakers,
//! and one training step (forward, NLL + unimodal + orthogonality + adversarial losses,
//! backward, Adam), on every compiled backend. Throughput in dialogues/s.
//!
//! ```text
//! cargo bench --bench maln
//! ```
//! Whole-epoch figures come from `cargo bench --bench epoch -- maln`.

mod common;

use common::{PresetWorkload, bench_preset};
use criterion::{Criterion, criterion_group, criterion_main};
use erc::models::maln::MalnModel;

fn bench(c: &mut Criterion) {
    let iemocap = PresetWorkload {
        model: "maln",
        preset: "iemocap",
        dataset: "iemocap",
        dims: [("text", 1024), ("audio", 100), ("visual", 512)],
        classes: 6,
        slots: 2,
    };
    bench_preset::<MalnModel>(c, &iemocap, 32);
}

criterion_group!(benches, bench);
criterion_main!(benches);
