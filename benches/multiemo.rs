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

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erc::core::burn::module::Module;
use erc::core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModalityDim};
use erc::models::multiemo::{MultiEmo, MultiEmoConfig};
use erc::train::optim::build_optimizer;

const DIMS: [(&str, usize); 3] = [("text", 768), ("audio", 512), ("visual", 1000)];
const DIALOGUES: usize = 32;

fn bench(c: &mut Criterion) {
    for (preset, dataset, config, classes, slots) in
        [("iemocap", "iemocap", MultiEmoConfig::iemocap(), 6, 2), ("meld", "meld", MultiEmoConfig::meld(), 7, 9)]
    {
        let spec = DataSpec {
            classes: (0..classes).map(|c| c.to_string()).collect(),
            modalities: DIMS.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
            num_speakers: slots,
            train_class_counts: None,
        };
        let shapes: Vec<_> = common::split_shapes(dataset, "train", slots).into_iter().take(DIALOGUES).collect();
        let host = common::host_batches(&shapes, DIALOGUES, &DIMS, classes, slots, 1).remove(0);
        let mut group = c.benchmark_group(format!("multiemo-{preset}"));
        group.throughput(Throughput::Elements(shapes.len() as u64));
        group.sample_size(10);
        for backend in BackendKind::compiled() {
            let device = backend.training_device().unwrap();
            let model = MultiEmo::new(&config, &spec, &device).unwrap();

            let eval_device = device.clone().inner();
            let eval_model = model.valid();
            let eval_batch = DialogueBatch::from_host(host.clone(), &eval_device).unwrap();
            group.bench_function(format!("{backend}/inference"), |b| {
                b.iter(|| eval_model.forward(&eval_batch).unwrap().log_probs.into_data())
            });

            let batch = DialogueBatch::from_host(host.clone(), &device).unwrap();
            let training = MultiEmoConfig::iemocap_training();
            let mut optim = build_optimizer(&training);
            let mut slot = Some(model);
            group.bench_function(format!("{backend}/train-step"), |b| {
                b.iter(|| {
                    slot = Some(common::train_step(slot.take().unwrap(), &batch, &mut optim, training.lr, &device))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
