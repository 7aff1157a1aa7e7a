//! FacialMMT: inference and one training step of the `small` preset on batches of MELD
//! dialogues (real lengths, speakers), with per-utterance sequences of the small variant's
//! caps (T 38 × 384 MiniLM tokens, A 128 × 768 wav2vec2 frames, V 32 × 512 faces; lengths
//! drawn per utterance, 5 % without a face); and the fusion network alone (`text_linear`,
//! encoders, both cross-modal stages, pooling, classifier) at the paper widths (d 768,
//! T 38, A 400, V 50, the spec's middle illustrative lengths) on 4 utterances, per compiled
//! backend. Throughput in utterances/s.
//!
//! ```text
//! cargo bench --bench facialmmt
//! ```

mod common;

use std::collections::BTreeMap;

use common::{bench_model, split_shapes};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erc::core::batch::HostBatch;
use erc::core::burn::module::Module;
use erc::core::burn::optim::GradientsParams;
use erc::core::burn::tensor::{Distribution, Tensor};
use erc::core::sequences::{AUDIO_FRAMES, FACES, TEXT_TOKENS, mask_name};
use erc::core::{DataSpec, ModalityDim};
use erc::models::ModelFactory;
use erc::models::facialmmt::{FacialMmt, FacialMmtConfig, FacialMmtModel, UtteranceInputs};

/// (name, frames, width, minimum frames) of the small variant's sequences.
const SEQUENCES: [(&str, usize, usize, usize); 3] =
    [(TEXT_TOKENS, 38, 384, 5), (AUDIO_FRAMES, 128, 768, 20), (FACES, 32, 512, 0)];

fn spec() -> DataSpec {
    let modalities = SEQUENCES
        .iter()
        .flat_map(|&(name, frames, width, _)| {
            [ModalityDim { name: name.into(), dim: frames * width }, ModalityDim { name: mask_name(name), dim: frames }]
        })
        .collect();
    DataSpec { classes: (0..7).map(|c| c.to_string()).collect(), modalities, num_speakers: 9, train_class_counts: None }
}

/// A batch of MELD dialogues with random sequences: lengths and values from a xorshift stream.
fn meld_batch(dialogues: usize) -> HostBatch {
    let shapes: Vec<_> = split_shapes("meld", "train", 9).into_iter().take(dialogues).collect();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let t = shapes.iter().map(|(n, _)| *n).max().unwrap();
    let b = shapes.len();
    let mut features = BTreeMap::new();
    for &(name, frames, width, min) in &SEQUENCES {
        let (mut values, mut mask) = (vec![0f32; b * t * frames * width], vec![0f32; b * t * frames]);
        for (i, (n, _)) in shapes.iter().enumerate() {
            for u in 0..*n {
                let row = i * t + u;
                let faceless = min == 0 && next() < 0.05;
                let len = if faceless { 0 } else { min.max(1) + (next() * (frames - min.max(1)) as f32) as usize };
                for f in 0..len {
                    mask[row * frames + f] = 1.0;
                    let start = (row * frames + f) * width;
                    values[start..start + width].iter_mut().for_each(|v| *v = (next() - 0.5) * 3.46);
                }
            }
        }
        features.insert(name.to_string(), (frames * width, values));
        features.insert(mask_name(name), (frames, mask));
    }
    let mut speakers = vec![0; b * t];
    let mut labels = vec![-1; b * t];
    for (i, (n, spk)) in shapes.iter().enumerate() {
        speakers[i * t..i * t + n].copy_from_slice(spk);
        (0..*n).for_each(|j| labels[i * t + j] = ((i + j) % 7) as i64);
    }
    HostBatch { features, lengths: shapes.iter().map(|(n, _)| *n).collect(), speakers, labels, speaker_slots: 9 }
}

fn bench_small(c: &mut Criterion, smoke: bool) {
    let dialogues = if smoke { 1 } else { 4 };
    let host = meld_batch(dialogues);
    let utterances: usize = host.lengths.iter().sum();
    let (config, training) = FacialMmtModel::preset("small").unwrap();
    bench_model::<FacialMmtModel>(c, "facialmmt-small", &config, &training, &spec(), &host, utterances);
}

/// Random fused inputs of `n` utterances at the configuration's lengths, every row real.
fn fusion_inputs(config: &FacialMmtConfig, n: usize, device: &erc::core::burn::tensor::Device) -> UtteranceInputs {
    let normal = Distribution::Normal(0.0, 1.0);
    let (t, a, v, d) = (config.text_len, config.audio_len, config.vision_len, config.width);
    UtteranceInputs {
        text: Tensor::random([n, t, d], normal, device),
        text_mask: Tensor::ones([n, t], device),
        audio: Tensor::random([n, a, config.audio_dim], normal, device),
        audio_mask: Tensor::ones([n, a], device),
        vision: Tensor::random([n, v, config.face_dim + config.fer_classes], normal, device),
        vision_mask: Tensor::ones([n, v], device),
    }
}

fn bench_paper_fusion(c: &mut Criterion, smoke: bool) {
    let (n, a, v) = if smoke { (1, 8, 4) } else { (4, 400, 50) };
    let config = FacialMmtConfig { audio_len: a, vision_len: v, ..FacialMmtConfig::paper() };
    let training = FacialMmtConfig::paper_training();
    let mut group = c.benchmark_group("facialmmt-paper-fusion");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    for backend in common::bench_backends() {
        let device = backend.training_device().unwrap();
        let model = FacialMmt::new(&config, &device).unwrap();
        let eval_device = device.clone().inner();
        let eval_model = model.valid();
        let eval_inputs = fusion_inputs(&config, n, &eval_device);
        group.bench_function(format!("{backend}/inference"), |b| {
            b.iter(|| eval_model.fuse(eval_inputs.clone()).logits.into_data())
        });
        let inputs = fusion_inputs(&config, n, &device);
        let labels = Tensor::<2, erc::core::burn::tensor::Int>::zeros([n, 1], &device);
        let mut optim = erc::train::optim::build_optimizer(&training);
        let mut slot = Some(model);
        group.bench_function(format!("{backend}/train-step"), |b| {
            b.iter(|| {
                let model = slot.take().unwrap();
                let logits = model.fuse(inputs.clone()).logits;
                let loss = FacialMmt::log_probs(logits).gather(1, labels.clone()).mean().neg();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                slot = Some(optim.step(training.lr, model, grads));
                let _ = device.sync();
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    // without `--bench` (as `cargo test --all-targets` runs it): tiny shapes, a smoke test
    let smoke = !std::env::args().any(|a| a == "--bench");
    bench_small(c, smoke);
    bench_paper_fusion(c, smoke);
}

criterion_group!(benches, bench);
criterion_main!(benches);
