//! Workloads shared by the model benchmarks: batches with the real dialogue lengths and
//! speakers of IEMOCAP and MELD (from `../shared/data`), random features of the presets' widths.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use erc::core::batch::HostBatch;
use erc::core::burn::optim::{GradientsParams, ModuleOptimizer};
use erc::core::burn::tensor::Device;
use erc::core::{DialogueBatch, DialogueModel};
use erc::data::transcripts::read_transcripts;

/// `../shared` (or `ERC_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// The backends to benchmark: the comma-separated names in `ERC_BENCH_BACKENDS` (for example
/// `flex,wgpu`), or every compiled backend when it is unset. An unknown or uncompiled name ends
/// the run with a message.
pub fn bench_backends() -> Vec<erc::core::BackendKind> {
    use erc::core::BackendKind;
    let Ok(list) = std::env::var("ERC_BENCH_BACKENDS") else {
        return BackendKind::compiled();
    };
    let parsed: Result<Vec<BackendKind>, _> = list
        .split(',')
        .filter(|name| !name.trim().is_empty())
        .map(|name| name.parse::<BackendKind>().and_then(|kind| kind.device().map(|_| kind)))
        .collect();
    match parsed {
        Ok(kinds) => kinds,
        Err(e) => {
            eprintln!("ERC_BENCH_BACKENDS={list}: {e}");
            std::process::exit(2)
        }
    }
}

/// One training step — forward, the model's total loss, backward, optimiser step — finished
/// on the device before it returns.
pub fn train_step<M: DialogueModel>(
    model: M,
    batch: &DialogueBatch,
    optim: &mut ModuleOptimizer,
    lr: f64,
    device: &Device,
) -> M {
    let loss = model.forward(batch).unwrap().total_loss().unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(lr, model, grads);
    let _ = device.sync();
    model
}

/// A dataset's dialogues of one split as (length, speaker slot per utterance). Speakers get
/// slots in order of first appearance in their dialogue (IEMOCAP: `M` → 0, anything else → 1,
/// as the reference does), at most `max_slots`.
pub fn split_shapes(dataset: &str, split: &str, max_slots: usize) -> Vec<(usize, Vec<i64>)> {
    let path = shared_dir().join("data").join(format!("{dataset}.jsonl"));
    let dialogues = read_transcripts(&path).unwrap_or_else(|e| panic!("{e}: the benchmarks read ../shared/data"));
    dialogues
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| d.split.as_deref() == Some(split))
        .map(|d| {
            let mut seen: Vec<String> = Vec::new();
            let speakers = d
                .utterances
                .iter()
                .map(|u| {
                    if dataset == "iemocap" {
                        return if u.speaker == "M" { 0 } else { 1 };
                    }
                    let slot = seen.iter().position(|s| *s == u.speaker).unwrap_or_else(|| {
                        seen.push(u.speaker.clone());
                        seen.len() - 1
                    });
                    slot.min(max_slots - 1) as i64
                })
                .collect();
            (d.utterances.len(), speakers)
        })
        .collect()
}

/// Batches of `batch_size` dialogues in order, features uniform in [-1.7, 1.7] (unit variance),
/// labels cycling through `classes`.
pub fn host_batches(
    shapes: &[(usize, Vec<i64>)],
    batch_size: usize,
    dims: &[(&str, usize)],
    classes: usize,
    slots: usize,
    seed: u64,
) -> Vec<HostBatch> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.46
    };
    shapes
        .chunks(batch_size)
        .map(|chunk| {
            let b = chunk.len();
            let t = chunk.iter().map(|(n, _)| *n).max().unwrap();
            let mut features = BTreeMap::new();
            for &(name, d) in dims {
                let mut values = vec![0f32; b * t * d];
                for (i, (n, _)) in chunk.iter().enumerate() {
                    values[i * t * d..(i * t + n) * d].iter_mut().for_each(|v| *v = next());
                }
                features.insert(name.to_string(), (d, values));
            }
            let mut speakers = vec![0; b * t];
            let mut labels = vec![-1; b * t];
            for (i, (n, spk)) in chunk.iter().enumerate() {
                speakers[i * t..i * t + n].copy_from_slice(spk);
                for j in 0..*n {
                    labels[i * t + j] = ((i + j) % classes) as i64;
                }
            }
            HostBatch {
                features,
                lengths: chunk.iter().map(|(n, _)| *n).collect(),
                speakers,
                labels,
                speaker_slots: slots,
            }
        })
        .collect()
}

/// A paper preset's workload for the criterion benches: which model, preset and dataset, the
/// feature widths, classes and speaker slots.
pub struct PresetWorkload {
    /// Registry name of the model.
    pub model: &'static str,
    /// Preset name.
    pub preset: &'static str,
    /// `iemocap` or `meld`: whose train-split lengths and speakers to use.
    pub dataset: &'static str,
    /// Feature widths.
    pub dims: [(&'static str, usize); 3],
    /// Classes.
    pub classes: usize,
    /// Speaker slots.
    pub slots: usize,
}

/// Benchmarks a registered model at a preset, on every compiled backend: inference on a batch
/// of the first `dialogues` train dialogues (real lengths and speakers) and one training step
/// (forward, the model's loss, backward, the preset's optimiser). Throughput in dialogues/s;
/// group `<model>-<preset>`. Without `--bench` (as `cargo test --all-targets` runs it) the batch
/// is the first 2 dialogues only: a smoke test, not a measurement.
pub fn bench_preset<F: erc::models::ModelFactory>(
    c: &mut criterion::Criterion,
    workload: &PresetWorkload,
    dialogues: usize,
) {
    let dialogues = if std::env::args().any(|a| a == "--bench") { dialogues } else { dialogues.min(2) };
    let w = workload;
    let (config, training) = F::preset(w.preset).expect("the preset exists");
    let spec = erc::core::DataSpec {
        classes: (0..w.classes).map(|c| c.to_string()).collect(),
        modalities: w.dims.iter().map(|(n, d)| erc::core::ModalityDim { name: n.to_string(), dim: *d }).collect(),
        num_speakers: w.slots,
        train_class_counts: None,
    };
    let shapes: Vec<_> = split_shapes(w.dataset, "train", w.slots).into_iter().take(dialogues).collect();
    let host = host_batches(&shapes, dialogues, &w.dims, w.classes, w.slots, 1).remove(0);
    bench_model::<F>(c, &format!("{}-{}", w.model, w.preset), &config, &training, &spec, &host, shapes.len());
}

/// Benchmarks a built model on every compiled backend under group `name`: inference in eval
/// mode and one training step (forward, the model's loss, backward, the preset's optimiser) on
/// one batch; throughput `elements` per iteration.
pub fn bench_model<F: erc::models::ModelFactory>(
    c: &mut criterion::Criterion,
    name: &str,
    config: &F::Config,
    training: &erc::core::training::TrainingPreset,
    spec: &erc::core::DataSpec,
    host: &HostBatch,
    elements: usize,
) {
    use erc::core::burn::module::Module;
    let mut group = c.benchmark_group(name);
    group.throughput(criterion::Throughput::Elements(elements as u64));
    group.sample_size(10);
    for backend in bench_backends() {
        let device = backend.training_device().unwrap();
        let model = F::build(config, spec, &device).unwrap();

        let eval_device = device.clone().inner();
        let eval_model = model.valid();
        let eval_batch = DialogueBatch::from_host(host.clone(), &eval_device).unwrap();
        group.bench_function(format!("{backend}/inference"), |b| {
            b.iter(|| eval_model.forward(&eval_batch).unwrap().log_probs.into_data())
        });

        let batch = DialogueBatch::from_host(host.clone(), &device).unwrap();
        let mut optim = erc::train::optim::build_optimizer(training);
        let mut slot = Some(model);
        group.bench_function(format!("{backend}/train-step"), |b| {
            b.iter(|| slot = Some(train_step(slot.take().unwrap(), &batch, &mut optim, training.lr, &device)))
        });
    }
    group.finish();
}
