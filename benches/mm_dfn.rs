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

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erc::core::burn::module::Module;
use erc::core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModalityDim};
use erc::models::mm_dfn::{MmDfn, MmDfnConfig};
use erc::train::optim::build_optimizer;

const DIMS: [(&str, usize); 3] = [("text", 100), ("audio", 1582), ("visual", 342)];

fn spec() -> DataSpec {
    DataSpec {
        classes: (0..6).map(|c| c.to_string()).collect(),
        modalities: DIMS.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
        num_speakers: 2,
        train_class_counts: None,
    }
}

fn bench(c: &mut Criterion) {
    let shapes: Vec<_> = common::split_shapes("iemocap", "train", 2).into_iter().take(32).collect();
    let host = common::host_batches(&shapes, 32, &DIMS, 6, 2, 1).remove(0);
    let mut group = c.benchmark_group("mm-dfn-iemocap");
    group.throughput(Throughput::Elements(shapes.len() as u64));
    group.sample_size(10);
    for backend in BackendKind::compiled() {
        let device = backend.training_device().unwrap();
        let model = MmDfn::new(&MmDfnConfig::iemocap(), &spec(), &device).unwrap();

        let eval_device = device.clone().inner();
        let eval_model = model.valid();
        let eval_batch = DialogueBatch::from_host(host.clone(), &eval_device).unwrap();
        group.bench_function(format!("{backend}/inference"), |b| {
            b.iter(|| eval_model.forward(&eval_batch).unwrap().log_probs.into_data())
        });

        let batch = DialogueBatch::from_host(host.clone(), &device).unwrap();
        let mut optim = build_optimizer(&MmDfnConfig::iemocap_training());
        let mut slot = Some(model);
        group.bench_function(format!("{backend}/train-step"), |b| {
            b.iter(|| slot = Some(common::train_step(slot.take().unwrap(), &batch, &mut optim, 3e-4, &device)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
