//! The padded dialogue batch every model consumes, and the dataset facts models are built from.

use std::collections::BTreeMap;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Label value of padded or unlabelled utterances.
pub const PAD_LABEL: i64 = -1;

/// One modality's name and feature dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModalityDim {
    /// Modality name, e.g. `text`, `audio`, `visual`.
    pub name: String,
    /// Feature dimension per utterance.
    pub dim: usize,
}

/// What a model needs to know about a dataset to be built: classes, modalities, speakers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Class names in label-index order.
    pub classes: Vec<String>,
    /// The modalities the dataset carries.
    pub modalities: Vec<ModalityDim>,
    /// Size of the speaker vocabulary (speaker ids are `0..num_speakers`).
    pub num_speakers: usize,
    /// Labelled utterances per class in the training split, when known (the trainer fills it
    /// in; models whose loss weights classes by frequency read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_class_counts: Option<Vec<usize>>,
}

impl DataSpec {
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The dimension of a modality, or an error naming the modalities there are.
    pub fn modality_dim(&self, name: &str) -> Result<usize, ModelError> {
        self.modalities.iter().find(|m| m.name == name).map(|m| m.dim).ok_or_else(|| ModelError::MissingModality {
            name: name.to_string(),
            available: self.modality_names().join(", "),
        })
    }

    /// Modality names in dataset order.
    pub fn modality_names(&self) -> Vec<String> {
        self.modalities.iter().map(|m| m.name.clone()).collect()
    }
}

/// Gathers rows of a batch of sequences into new sequences of `rows_out` rows: `x` is
/// `[N, L, d]`; `sources` holds `N · rows_out` entries, item-major, each the row of the same
/// item to copy (`Some(j)`) or a zero row (`None`). Returns `[N, rows_out, d]`; gradients flow
/// to the copied rows.
pub fn gather_rows(x: Tensor<3>, sources: &[Option<usize>], rows_out: usize) -> Tensor<3> {
    let [n, l, d] = x.dims();
    assert_eq!(sources.len(), n * rows_out, "one source per output row");
    let device = x.device();
    // one zero row appended per item stands for the empty slots
    let with_zero = Tensor::cat(vec![x, Tensor::zeros([n, 1, d], &device)], 1).reshape([n * (l + 1), d]);
    let index: Vec<i64> = sources
        .iter()
        .enumerate()
        .map(|(r, source)| {
            let item = r / rows_out;
            let row = source.map_or(l, |j| {
                assert!(j < l, "row {j} of a sequence of {l}");
                j
            });
            (item * (l + 1) + row) as i64
        })
        .collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n * rows_out]), &device);
    with_zero.select(0, index).reshape([n, rows_out, d])
}

/// Host-side description of a batch: what the tensors were built from.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLayout {
    /// Utterances per dialogue, in batch order.
    pub lengths: Vec<usize>,
    /// Padded length `T` (the longest dialogue).
    pub max_len: usize,
    /// Labels, batch-first and flattened (`b * T + t`), [`PAD_LABEL`] at padding.
    pub labels: Vec<i64>,
    /// Speaker ids, batch-first and flattened (`b * T + t`), 0 at padding.
    pub speakers: Vec<i64>,
}

impl BatchLayout {
    /// Flat indices (`b * T + t`) of real utterances, dialogue by dialogue.
    pub fn utterance_rows(&self) -> Vec<usize> {
        utterance_positions(&self.lengths, self.max_len)
    }

    /// See [`packed_rows`].
    pub fn packed_rows(&self) -> Vec<usize> {
        packed_rows(&self.lengths, self.max_len)
    }

    /// Flat indices of real utterances that carry a label, dialogue by dialogue.
    pub fn labelled_rows(&self) -> Vec<usize> {
        self.utterance_rows().into_iter().filter(|&r| self.labels[r] != PAD_LABEL).collect()
    }
}

/// A batch of `B` dialogues padded to length `T`, on one device, batch-first.
#[derive(Debug, Clone)]
pub struct DialogueBatch {
    /// Features per modality name: `[B, T, D_m]`, zero at padding.
    pub features: BTreeMap<String, Tensor<3>>,
    /// Utterance mask `[B, T]`: 1.0 for real utterances, 0.0 for padding.
    pub mask: Tensor<2>,
    /// Speaker ids `[B, T]`, 0 at padding.
    pub speaker_ids: Tensor<2, Int>,
    /// Speaker one-hot `[B, T, S]`, all-zero at padding.
    pub speaker_one_hot: Tensor<3>,
    /// Labels `[B, T]`, [`PAD_LABEL`] at padding; `None` for unlabelled input (prediction).
    pub labels: Option<Tensor<2, Int>>,
    /// Host-side lengths and labels.
    pub layout: BatchLayout,
}

impl DialogueBatch {
    /// Number of dialogues `B`.
    pub fn batch_size(&self) -> usize {
        self.layout.lengths.len()
    }

    /// Padded length `T`.
    pub fn max_len(&self) -> usize {
        self.layout.max_len
    }

    /// The device the tensors live on.
    pub fn device(&self) -> Device {
        self.mask.device()
    }

    /// Features of one modality `[B, T, D]`.
    pub fn modality(&self, name: &str) -> Result<Tensor<3>, ModelError> {
        self.features.get(name).cloned().ok_or_else(|| ModelError::MissingModality {
            name: name.to_string(),
            available: self.features.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Features of one modality, sequence-first `[T, B, D]` (the layout the references use).
    pub fn modality_seq_first(&self, name: &str) -> Result<Tensor<3>, ModelError> {
        Ok(self.modality(name)?.swap_dims(0, 1))
    }

    /// Speaker one-hot, sequence-first `[T, B, S]`.
    pub fn speaker_one_hot_seq_first(&self) -> Tensor<3> {
        self.speaker_one_hot.clone().swap_dims(0, 1)
    }

    /// Padding mask `[B, T]`, `true` at padded steps (burn's attention convention).
    pub fn padding_mask(&self) -> Tensor<2, Bool> {
        self.mask.clone().equal_elem(0.0)
    }

    /// Flat indices (`b * T + t`) of labelled utterances as an index tensor `[N]`.
    pub fn labelled_index(&self) -> Tensor<1, Int> {
        index_tensor(&self.layout.labelled_rows(), &self.device())
    }

    /// Flat indices (`b * T + t`) of real utterances as an index tensor `[N]`.
    pub fn utterance_index(&self) -> Tensor<1, Int> {
        index_tensor(&self.layout.utterance_rows(), &self.device())
    }

    /// Rows of a `[B, T, D]` tensor at real utterances, dialogue by dialogue: `[N, D]`.
    pub fn gather_utterances(&self, x: Tensor<3>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        x.reshape([b * t, d]).select(0, self.utterance_index())
    }
}

/// A batch on the host, padded and batch-first, before it is moved to a device.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Per modality: feature dimension and `[B * T * D]` values, zero at padding.
    pub features: BTreeMap<String, (usize, Vec<f32>)>,
    /// Utterances per dialogue.
    pub lengths: Vec<usize>,
    /// Speaker ids, flat `b * T + t`.
    pub speakers: Vec<i64>,
    /// Labels, flat `b * T + t`, [`PAD_LABEL`] where absent.
    pub labels: Vec<i64>,
    /// Width of the speaker one-hot.
    pub speaker_slots: usize,
}

impl DialogueBatch {
    /// Moves a host batch to a device, deriving the mask and the speaker one-hot. The first batch
    /// of a process whose erc was compiled without optimisation prints one warning naming the fix
    /// ([`crate::build_check`]).
    pub fn from_host(host: HostBatch, device: &Device) -> Result<Self, ModelError> {
        crate::build_check::warn_once_if_unoptimised();
        let b = host.lengths.len();
        let t = host.lengths.iter().copied().max().unwrap_or(0);
        let s = host.speaker_slots;
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if b == 0 || t == 0 {
            return bad("a batch needs at least one non-empty dialogue".into());
        }
        if host.speakers.len() != b * t || host.labels.len() != b * t {
            return bad(format!("speakers and labels must hold B*T = {} entries", b * t));
        }
        let mut features = BTreeMap::new();
        for (name, (dim, values)) in host.features {
            if values.len() != b * t * dim {
                return bad(format!("modality `{name}`: {} values for [{b}, {t}, {dim}]", values.len()));
            }
            features.insert(name, Tensor::<3>::from_data(TensorData::new(values, [b, t, dim]), device));
        }
        let mut mask = vec![0f32; b * t];
        let mut one_hot = vec![0f32; b * t * s];
        let mut speakers = host.speakers;
        let mut labels = host.labels;
        for (bi, &n) in host.lengths.iter().enumerate() {
            for i in 0..t {
                let row = bi * t + i;
                if i >= n {
                    speakers[row] = 0;
                    labels[row] = PAD_LABEL;
                    continue;
                }
                let spk = speakers[row];
                if spk < 0 || spk as usize >= s {
                    return bad(format!("speaker id {spk} outside the {s} speaker slots"));
                }
                mask[row] = 1.0;
                one_hot[row * s + spk as usize] = 1.0;
            }
        }
        let has_labels = labels.iter().any(|&y| y != PAD_LABEL);
        Ok(DialogueBatch {
            features,
            mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
            speaker_ids: Tensor::<2, Int>::from_data(TensorData::new(speakers.clone(), [b, t]), device),
            speaker_one_hot: Tensor::from_data(TensorData::new(one_hot, [b, t, s]), device),
            labels: has_labels.then(|| Tensor::<2, Int>::from_data(TensorData::new(labels.clone(), [b, t]), device)),
            layout: BatchLayout { lengths: host.lengths, max_len: t, labels, speakers },
        })
    }
}

/// Flat padded positions (`b * T + t`) of the real utterances of dialogues of `lengths`
/// padded to `max_len`, dialogue by dialogue: the packed order models flatten utterances into.
pub fn utterance_positions(lengths: &[usize], max_len: usize) -> Vec<usize> {
    lengths.iter().enumerate().flat_map(|(b, &n)| (0..n).map(move |i| b * max_len + i)).collect()
}

/// The inverse of [`utterance_positions`]: for every flat padded position `b * T + t`, the
/// packed row (`offset_b + t`) of its utterance; padded positions map to 0. Shape `[B * T]`.
pub fn packed_rows(lengths: &[usize], max_len: usize) -> Vec<usize> {
    let mut rows = vec![0; lengths.len() * max_len];
    for (packed, position) in utterance_positions(lengths, max_len).into_iter().enumerate() {
        rows[position] = packed;
    }
    rows
}

/// Builds an `[N]` int tensor of indices on a device.
pub fn index_tensor(indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}
