//! Numerical parity with the reference implementations, from their fixtures.
//!
//! A fixture is `<case>.safetensors` (tensors `param.*`, `input.*`, `output.*`, `grad.*`) plus
//! `<case>.json` beside it (`model`, `config`, `tolerance`, `has_grads`; see
//! `../shared/fixtures/README.md`). [`crate::run_parity`] builds the named model from `config`,
//! imports `param.*` by the reference's names, feeds `input.*`, and compares every `output.*`
//! and `grad.*` with the case's tolerances.

mod compare;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Gradients, Tensor};
use erc_core::import::{AnyTensor, HostTensor, ImportError, ParamTable, TensorFile};
use serde::Serialize;

pub use compare::Comparator;

/// Errors that stop a parity run before anything is compared.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// The fixture files could not be read.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The JSON beside the tensors is missing or malformed.
    #[error("{path}: {message}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The fixture names a model we have no parity run for.
    #[error("no parity run for model `{name}` (known: {known})")]
    UnknownModel {
        /// The fixture's model.
        name: String,
        /// The models with a parity run.
        known: String,
    },
    /// The fixture is inconsistent (a tensor missing or mis-shaped) or the model rejects it.
    #[error("fixture {case}: {message}")]
    Fixture {
        /// The case.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// The backend is not usable.
    #[error(transparent)]
    Backend(#[from] erc_core::BackendError),
}

/// A parity fixture: its tensors and its description.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The case name (the file stem).
    pub case: String,
    /// The JSON description.
    pub meta: serde_json::Value,
    /// Every tensor of the safetensors file.
    pub tensors: TensorFile,
}

impl Fixture {
    /// Reads `path` (the `.safetensors` file) and the `.json` beside it.
    pub fn open(path: &Path) -> Result<Self, ParityError> {
        let tensors = TensorFile::read(path)?;
        let json_path = path.with_extension("json");
        let text = std::fs::read_to_string(&json_path)
            .map_err(|e| ParityError::Json { path: json_path.clone(), message: e.to_string() })?;
        let meta: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ParityError::Json { path: json_path, message: e.to_string() })?;
        let case = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { case, meta, tensors })
    }

    /// The `model` field.
    pub fn model(&self) -> &str {
        self.meta.get("model").and_then(|m| m.as_str()).unwrap_or("")
    }

    /// An error about this fixture.
    pub fn error(&self, message: impl Into<String>) -> ParityError {
        ParityError::Fixture { case: self.case.clone(), message: message.into() }
    }

    /// A float tensor by full name (`input.textf`).
    pub fn float(&self, name: &str) -> Result<(&[usize], &[f32]), ParityError> {
        match self.tensors.get(name) {
            Some(HostTensor::Float { shape, values }) => Ok((shape, values)),
            Some(_) => Err(self.error(format!("`{name}` is not a float tensor"))),
            None => Err(self.error(format!("tensor `{name}` is missing"))),
        }
    }

    /// An integer tensor by full name.
    pub fn int(&self, name: &str) -> Result<(&[usize], &[i64]), ParityError> {
        match self.tensors.get(name) {
            Some(HostTensor::Int { shape, values }) => Ok((shape, values)),
            Some(_) => Err(self.error(format!("`{name}` is not an integer tensor"))),
            None => Err(self.error(format!("tensor `{name}` is missing"))),
        }
    }

    /// Names below a prefix (`output.`), prefix stripped.
    pub fn names_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tensors.names().filter_map(move |n| n.strip_prefix(prefix))
    }

    /// Whether the case carries `grad.*` tensors.
    pub fn has_grads(&self) -> bool {
        self.meta.get("has_grads").and_then(|v| v.as_bool()).unwrap_or(false)
    }
}

/// The outcome of one parity run: the JSON line `erc parity` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    /// The model.
    pub model: String,
    /// The case (fixture file stem).
    pub case: String,
    /// Largest absolute difference over every float `output.*`.
    pub max_abs_output_err: f64,
    /// Largest gradient difference relative to the reference tensor's largest magnitude
    /// (`max|ours − ref| / max|ref|`, with `max|ref|` floored at the case's absolute gradient
    /// tolerance where it has one) over every `grad.*`; 0 when the case has none.
    pub max_grad_err: f64,
    /// Every comparison within its tolerance.
    pub pass: bool,
    /// What failed, one line each (not part of the JSON line).
    #[serde(skip)]
    pub failures: Vec<String>,
    /// Tensors compared.
    #[serde(skip)]
    pub compared: usize,
}

/// Transposes a `[A, B, D]` row-major array to `[B, A, D]` (sequence-first ↔ batch-first).
pub fn swap_leading(values: &[f32], a: usize, b: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for i in 0..a {
        for j in 0..b {
            out[(j * a + i) * d..(j * a + i + 1) * d].copy_from_slice(&values[(i * b + j) * d..(i * b + j + 1) * d]);
        }
    }
    out
}

/// Where a reference's batch inputs are in a fixture.
pub(crate) struct ReferenceInputs<'a> {
    /// The utterance mask `[B, T]` (a dialogue's length is its last non-zero step plus one).
    pub mask: &'a str,
    /// The speaker one-hot `[T, B, S]`, time-major.
    pub speakers: &'a str,
    /// The labels, batch-major (`[B, T]` or flattened); steps past a dialogue's end are ignored.
    pub labels: &'a str,
    /// `(our modality name, input name)` of each time-major `[T, B, D]` feature tensor.
    pub features: Vec<(&'a str, &'a str)>,
}

/// The reference's time-major batch as one of ours (batch-first, speakers as slot indices).
pub(crate) fn time_major_batch(
    fixture: &Fixture,
    inputs: &ReferenceInputs<'_>,
    device: &burn::tensor::Device,
) -> Result<erc_core::DialogueBatch, ParityError> {
    let (mask_shape, mask) = fixture.float(&format!("input.{}", inputs.mask))?;
    let [b, t] = [mask_shape[0], mask_shape[1]];
    let lengths: Vec<usize> =
        (0..b).map(|i| (0..t).rev().find(|&j| mask[i * t + j] != 0.0).map_or(0, |j| j + 1)).collect();
    let (one_hot_shape, one_hot) = fixture.float(&format!("input.{}", inputs.speakers))?;
    let slots = one_hot_shape[2];
    let mut speakers = vec![0i64; b * t];
    for (i, &n) in lengths.iter().enumerate() {
        for j in 0..n {
            let row = &one_hot[(j * b + i) * slots..(j * b + i + 1) * slots];
            let slot = row.iter().position(|&v| v != 0.0).ok_or_else(|| {
                fixture.error(format!("utterance {j} of dialogue {i} has no speaker in {}", inputs.speakers))
            })?;
            speakers[i * t + j] = slot as i64;
        }
    }
    let (_, label) = fixture.int(&format!("input.{}", inputs.labels))?;
    if label.len() != b * t {
        return Err(fixture.error(format!("{} has {} labels for {b}×{t} steps", inputs.labels, label.len())));
    }
    let labels = (0..b * t).map(|r| if r % t < lengths[r / t] { label[r] } else { erc_core::PAD_LABEL }).collect();
    let mut features = BTreeMap::new();
    for (name, input) in &inputs.features {
        let (shape, values) = fixture.float(&format!("input.{input}"))?;
        features.insert(name.to_string(), (shape[2], swap_leading(values, t, b, shape[2])));
    }
    let host = erc_core::batch::HostBatch { features, lengths, speakers, labels, speaker_slots: slots };
    erc_core::DialogueBatch::from_host(host, device).map_err(|e| fixture.error(e.to_string()))
}

/// A tensor's values on the host, row-major.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// The gradients of every used parameter of a [`ParamTable`], by PyTorch name, in PyTorch's
/// layout (transposed back where burn stores the transpose).
pub(crate) fn param_grads(table: &ParamTable, grads: &Gradients) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut out = BTreeMap::new();
    for entry in &table.entries {
        let Some(tensor) = &entry.tensor else { continue };
        let values = match tensor {
            AnyTensor::R1(p) => p.grad(grads).map(host),
            AnyTensor::R2(p) => p.grad(grads).map(|g| host(if entry.transposed { g.transpose() } else { g })),
            AnyTensor::R3(p) => p.grad(grads).map(host),
        };
        if let Some(values) = values {
            out.insert(entry.name.clone(), (entry.shape.clone(), values));
        }
    }
    out
}

/// Reads a reference configuration (a fixture's `config`, or a preset's in `presets.json`),
/// written with the reference's own names, into `T`.
pub(crate) fn read_reference_config<T: serde::de::DeserializeOwned>(
    config: &serde_json::Value,
) -> Result<T, erc_core::ModelError> {
    serde_json::from_value(config.clone())
        .map_err(|e| erc_core::ModelError::InvalidConfig(format!("reading the reference configuration: {e}")))
}

/// The error for a reference setting erc does not implement, naming the setting and its value.
pub(crate) fn not_implemented(what: &str, value: impl std::fmt::Display) -> erc_core::ModelError {
    erc_core::ModelError::InvalidConfig(format!("reference setting {what} = {value} is not implemented"))
}

/// The dataset facts a reference configuration implies: `classes` classes named by their index,
/// the modalities with their widths, `parties` speakers.
pub(crate) fn reference_spec(classes: usize, modalities: &[(&str, usize)], parties: usize) -> erc_core::DataSpec {
    erc_core::DataSpec {
        classes: (0..classes).map(|c| c.to_string()).collect(),
        modalities: modalities.iter().map(|(n, d)| erc_core::ModalityDim { name: n.to_string(), dim: *d }).collect(),
        num_speakers: parties,
        train_class_counts: None,
    }
}
