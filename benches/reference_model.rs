//! The reference BiGRU at IEMOCAP's real feature dimensions (text 100, audio 1582, visual 342),
//! 16 dialogues of 20–80 utterances: inference and one training step (forward, backward, Adam),
//! on every compiled backend. Throughput is reported in dialogues per second.
//!
//! ```text
//! cargo bench --bench reference_model                      # flex
//! cargo bench --bench reference_model --features ndarray   # flex and ndarray
//! ```

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erc::core::DialogueModel;
use erc::core::burn::module::Module;
use erc::core::training::TrainingPreset;
use erc::data::{Batcher, Dataset, SynthConfig};
use erc::models::{BiGruConfig, BiGruModel, ModelFactory};
use erc::train::optim::build_optimizer;

const DIALOGUES: usize = 16;

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("synth");
    SynthConfig::iemocap_like(0).with_dialogues(DIALOGUES, 1, 1).generate().unwrap().write(&dir).unwrap();
    let ds = Dataset::open(&dir).unwrap();
    let ids: Vec<usize> = ds.split("train").unwrap().to_vec();
    let batcher = Batcher::new(DIALOGUES);

    let mut group = c.benchmark_group("bigru-iemocap-dims");
    group.throughput(Throughput::Elements(DIALOGUES as u64));
    group.sample_size(20);
    for backend in common::bench_backends() {
        let device = backend.training_device().unwrap();
        let model = BiGruModel::build(&BiGruConfig::default(), &ds.spec(), &device).unwrap();

        let eval_device = device.clone().inner();
        let eval_model = model.valid();
        let eval_batch = batcher.load(&ds, &ids, &eval_device).unwrap();
        group.bench_function(format!("{backend}/inference"), |b| {
            b.iter(|| eval_model.forward(&eval_batch).unwrap().log_probs.into_data())
        });

        let batch = batcher.load(&ds, &ids, &device).unwrap();
        let mut optim = build_optimizer(&TrainingPreset::default());
        let mut slot = Some(model);
        group.bench_function(format!("{backend}/train-step"), |b| {
            b.iter(|| slot = Some(common::train_step(slot.take().unwrap(), &batch, &mut optim, 1e-3, &device)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
