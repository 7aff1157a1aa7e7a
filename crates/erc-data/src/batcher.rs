//! Dialogues → padded tensors.

use std::collections::BTreeMap;

use burn::tensor::Device;
use erc_core::batch::HostBatch;
use erc_core::{DialogueBatch, PAD_LABEL};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::dataset::Dataset;
use crate::error::DataError;

/// The order in which dialogues are grouped into batches for one pass.
pub type BatchPlan = Vec<Vec<usize>>;

/// Groups dialogues into batches and loads them as padded tensors.
#[derive(Debug, Clone)]
pub struct Batcher {
    /// Dialogues per batch.
    pub batch_size: usize,
    /// Modalities to load (`None`: all the dataset has).
    pub modalities: Option<Vec<String>>,
    /// Width of the speaker one-hot (`None`: the dataset's speaker count). A model trained on
    /// another dataset needs its own width.
    pub speaker_slots: Option<usize>,
}

impl Batcher {
    /// A batcher loading every modality.
    pub fn new(batch_size: usize) -> Self {
        Self { batch_size: batch_size.max(1), modalities: None, speaker_slots: None }
    }

    /// Restricts loading to some modalities.
    pub fn with_modalities(mut self, modalities: Vec<String>) -> Self {
        self.modalities = Some(modalities);
        self
    }

    /// Sets the width of the speaker one-hot (at least the dataset's speaker count).
    pub fn with_speaker_slots(mut self, slots: usize) -> Self {
        self.speaker_slots = Some(slots);
        self
    }

    /// Splits `dialogues` into batches, shuffled with `seed` when given (ChaCha8, so the
    /// order is the same on every platform). The last partial batch is kept.
    pub fn plan(&self, dialogues: &[usize], seed: Option<u64>) -> BatchPlan {
        let mut order = dialogues.to_vec();
        if let Some(seed) = seed {
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        }
        order.chunks(self.batch_size).map(<[usize]>::to_vec).collect()
    }

    /// Reads the dialogues' rows and builds a batch-first padded batch on `device`.
    pub fn load(&self, dataset: &Dataset, dialogues: &[usize], device: &Device) -> Result<DialogueBatch, DataError> {
        let infos: Vec<_> = dialogues.iter().map(|&d| dataset.dialogue(d)).collect();
        let lengths: Vec<usize> = infos.iter().map(|i| i.len()).collect();
        let b = infos.len();
        let t = lengths.iter().copied().max().unwrap_or(0);
        if b == 0 || t == 0 {
            return Err(DataError::NotFound("cannot build an empty batch".into()));
        }
        let spec = dataset.spec();
        let names: Vec<String> = match &self.modalities {
            Some(m) => m.clone(),
            None => spec.modality_names(),
        };
        let s = self.speaker_slots.unwrap_or(spec.num_speakers).max(spec.num_speakers);

        let mut features = BTreeMap::new();
        let mut rows = Vec::new();
        for name in &names {
            let dim = spec.modality_dim(name).map_err(|e| DataError::NotFound(e.to_string()))?;
            let mut padded = vec![0f32; b * t * dim];
            for (bi, info) in infos.iter().enumerate() {
                rows.clear();
                dataset.read_features(name, info.start, info.end, &mut rows)?;
                padded[bi * t * dim..bi * t * dim + rows.len()].copy_from_slice(&rows);
            }
            features.insert(name.clone(), (dim, padded));
        }

        let mut speakers = vec![0i64; b * t];
        let mut labels = vec![PAD_LABEL; b * t];
        for (bi, info) in infos.iter().enumerate() {
            let row = bi * t;
            speakers[row..row + info.len()].copy_from_slice(dataset.speakers(info.start, info.end));
            labels[row..row + info.len()].copy_from_slice(dataset.labels(info.start, info.end));
        }
        let host = HostBatch { features, lengths, speakers, labels, speaker_slots: s };
        DialogueBatch::from_host(host, device).map_err(|e| DataError::Tensor(e.to_string()))
    }
}
