//! Helpers shared by the model test files: fixture paths, devices, random batches.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use erc_core::batch::HostBatch;
use erc_core::import::HostTensor;
use erc_core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModalityDim};
use erc_models::parity::Fixture;
use erc_models::run_parity;

/// The shared parity fixtures of one model (`../shared/fixtures/<model>`, or under `ERC_SHARED_DIR`).
pub fn fixtures(model: &str) -> PathBuf {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = base.join("fixtures").join(model);
    assert!(dir.is_dir(), "{} is missing: the parity fixtures live in ../shared (set ERC_SHARED_DIR)", dir.display());
    dir
}

/// The first compiled backend.
pub fn backend() -> BackendKind {
    BackendKind::default_compiled().unwrap()
}

/// Its device.
pub fn device() -> Device {
    backend().device().unwrap()
}

/// A tensor's values on the host.
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// A dataset description with three modalities.
pub fn spec(dims: [(&str, usize); 3], speakers: usize, classes: usize) -> DataSpec {
    DataSpec {
        classes: (0..classes).map(|c| c.to_string()).collect(),
        modalities: dims.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
        num_speakers: speakers,
        train_class_counts: None,
    }
}

/// Random features for three modalities; `dialogues` as `(length, speakers)` (speakers cycle),
/// labels `j % 6`, 3 speaker slots.
pub fn random_batch(dialogues: &[(usize, Vec<i64>)], seed: u64, dims: [usize; 3]) -> HostBatch {
    use std::collections::BTreeMap;
    let t = dialogues.iter().map(|(n, _)| *n).max().unwrap();
    let b = dialogues.len();
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let mut features = BTreeMap::new();
    for (name, d) in ["text", "audio", "visual"].iter().zip(dims) {
        let mut values = vec![0f32; b * t * d];
        for (i, (n, _)) in dialogues.iter().enumerate() {
            for v in &mut values[i * t * d..(i * t + n) * d] {
                *v = next();
            }
        }
        features.insert(name.to_string(), (d, values));
    }
    let mut speakers = vec![0; b * t];
    let mut labels = vec![-1; b * t];
    for (i, (n, spk)) in dialogues.iter().enumerate() {
        for j in 0..*n {
            speakers[i * t + j] = spk[j % spk.len()];
            labels[i * t + j] = (j % 6) as i64;
        }
    }
    HostBatch { features, lengths: dialogues.iter().map(|(n, _)| *n).collect(), speakers, labels, speaker_slots: 3 }
}

/// A fixture the generator could have written for another speaker pattern: `case` of `model`
/// with its speaker one-hot `input` (`[.., S]`) relabelled slot `k → (k + 4) mod S`. The
/// references run every slot alike, so their outputs do not change; parity must still pass.
pub fn assert_parity_with_relabelled_speakers(model: &str, case: &str, input: &str) {
    let fixture = Fixture::open(&fixtures(model).join(format!("{case}.safetensors"))).unwrap();
    let (shape, one_hot) = fixture.float(input).unwrap();
    let s = shape[shape.len() - 1];
    let mut relabelled = vec![0f32; one_hot.len()];
    for (row, chunk) in one_hot.chunks(s).enumerate() {
        for (slot, v) in chunk.iter().enumerate() {
            relabelled[row * s + (slot + 4) % s] = *v;
        }
    }
    let mut tensors = fixture.tensors.clone();
    tensors.insert(input, HostTensor::Float { shape: shape.to_vec(), values: relabelled });
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(format!("{case}_relabelled.safetensors"));
    std::fs::write(&path, tensors.to_bytes()).unwrap();
    std::fs::copy(fixtures(model).join(format!("{case}.json")), path.with_extension("json")).unwrap();
    let report = run_parity(&path, backend()).unwrap();
    assert!(report.pass, "{:#?}", report.failures);
}

/// A model's log-probabilities for one dialogue (5 utterances) run alone and inside a padded
/// batch with a shorter and a longer dialogue (features from [`random_batch`], widths 12/10/8,
/// 3 speakers, 6 classes): `(alone, in batch)`.
pub fn alone_and_in_batch(model: &impl DialogueModel) -> (Vec<f32>, Vec<f32>) {
    let d = device();
    let batch = random_batch(&[(9, vec![1, 0]), (5, vec![0, 1, 1, 0, 2]), (12, vec![2, 2, 0])], 7, [12, 10, 8]);
    let mut alone = batch.clone();
    let t = 12;
    for (dim, values) in alone.features.values_mut() {
        *values = values[t * *dim..(t + 5) * *dim].to_vec();
    }
    alone.lengths = vec![5];
    alone.speakers = batch.speakers[t..t + 5].to_vec();
    alone.labels = batch.labels[t..t + 5].to_vec();
    let out_batch = model.forward(&DialogueBatch::from_host(batch, &d).unwrap()).unwrap().log_probs;
    let out_alone = model.forward(&DialogueBatch::from_host(alone, &d).unwrap()).unwrap().log_probs;
    (floats(out_alone), floats(out_batch.slice([1..2, 0..5])))
}

/// Largest absolute elementwise difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
