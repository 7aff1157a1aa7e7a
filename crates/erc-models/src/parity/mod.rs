//! Numerical parity with the reference implementations, from their fixtures.
//!
//! A fixture is `<case>.safetensors` (tensors `param.*`, `input.*`, `output.*`, `grad.*`) plus
//! `<case>.json` beside it (`model`, `config`, `tolerance`, `has_grads`; see
//! `../shared/fixtures/README.md`). [`run_parity`] builds the named model from `config`,
//! imports `param.*` by the reference's names, feeds `input.*`, and compares every `output.*`
//! and `grad.*` with the case's tolerances.

mod facialmmt;
mod maln;
mod mm_dfn;
mod multiemo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Gradients;
use burn::tensor::Tensor;
use erc_core::BackendKind;
use erc_core::import::{AnyTensor, HostTensor, ImportError, ParamTable, TensorFile};
use serde::Serialize;

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
    #[error("no parity run for model `{0}` (known: facialmmt, maln, mm-dfn, multiemo)")]
    UnknownModel(String),
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

/// An elementwise bound `|ours − ref| ≤ atol + rtol · |ref|`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    atol: f64,
    rtol: f64,
}

impl Bound {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        Some(Self { atol: tol_value(v, "atol")?, rtol: tol_value(v, "rtol").unwrap_or(0.0) })
    }

    /// The first element outside the bound: `(index, |Δ|, allowed)`.
    fn violation(&self, ours: &[f32], reference: &[f32]) -> Option<(usize, f64, f64)> {
        ours.iter().zip(reference).enumerate().find_map(|(i, (o, r))| {
            let diff = (*o as f64 - *r as f64).abs();
            let allowed = self.atol + self.rtol * (*r as f64).abs();
            (diff.is_nan() || diff > allowed).then_some((i, diff, allowed))
        })
    }
}

/// A fixture's tolerances, in either of the two forms the fixtures use.
#[derive(Debug)]
enum Tolerance {
    /// Per-output absolute bounds (`{"logits": {"abs": …}, "intermediates": …,
    /// "grads": {"rel_to_tensor_max": …}}`).
    PerOutput(serde_json::Value),
    /// Elementwise `atol + rtol·|ref|` bounds per group (`{"groups": {"outputs", "losses",
    /// "grads"}}`); a group's `applies_to` is either a list of tensor names or a description
    /// meaning "all of its kind".
    Groups(serde_json::Map<String, serde_json::Value>),
    /// One elementwise bound for every output (`atol`, `rtol`) and a per-tensor bound for every
    /// gradient: `max|ours − ref| ≤ grad_atol + grad_rtol · max|ref|`.
    Flat {
        /// The output bound.
        outputs: Bound,
        /// `grad_atol`, `grad_rtol`.
        grads: Bound,
    },
}

impl Tolerance {
    fn of(fixture: &Fixture) -> Self {
        let tolerance = fixture.meta.get("tolerance").cloned().unwrap_or_default();
        if let Some(groups) = tolerance.get("groups").and_then(|g| g.as_object()) {
            return Self::Groups(groups.clone());
        }
        match (Bound::from_json(&tolerance), tol_value(&tolerance, "grad_atol")) {
            (Some(outputs), Some(atol)) => {
                Self::Flat { outputs, grads: Bound { atol, rtol: tol_value(&tolerance, "grad_rtol").unwrap_or(0.0) } }
            }
            _ => Self::PerOutput(tolerance),
        }
    }

    /// The group bound for a full tensor name (`output.loss`), or a default group.
    fn group_bound(groups: &serde_json::Map<String, serde_json::Value>, full: &str, default: &[&str]) -> Bound {
        let listed = groups.values().find(|g| {
            g.get("applies_to").and_then(|a| a.as_array()).is_some_and(|names| names.iter().any(|n| n == full))
        });
        listed
            .or_else(|| default.iter().find_map(|k| groups.get(*k)))
            .and_then(Bound::from_json)
            .unwrap_or(Bound { atol: 1e-4, rtol: 0.0 })
    }
}

/// Compares values against a fixture's references under its `tolerance` object.
#[derive(Debug)]
pub struct Comparator<'a> {
    fixture: &'a Fixture,
    tolerance: Tolerance,
    report: ParityReport,
    seen_outputs: Vec<String>,
}

fn tol_value(v: &serde_json::Value, key: &str) -> Option<f64> {
    v.get(key).and_then(serde_json::Value::as_f64)
}

impl<'a> Comparator<'a> {
    /// Starts comparing against `fixture`.
    pub fn new(fixture: &'a Fixture) -> Self {
        let report = ParityReport {
            model: fixture.model().to_string(),
            case: fixture.case.clone(),
            max_abs_output_err: 0.0,
            max_grad_err: 0.0,
            pass: true,
            failures: Vec::new(),
            compared: 0,
        };
        Self { fixture, tolerance: Tolerance::of(fixture), report, seen_outputs: Vec::new() }
    }

    fn fail(&mut self, message: String) {
        self.report.pass = false;
        self.report.failures.push(message);
    }

    /// Compares a float output (`output.<name>`) with ours, given in the reference's layout.
    pub fn output(&mut self, name: &str, shape: &[usize], ours: &[f32]) -> Result<(), ParityError> {
        self.output_with_rows(name, shape, ours, 0, &[])
    }

    /// As [`Comparator::output`], where the batch rows `special_rows` (indices along `axis`)
    /// have their own absolute bound when the output's tolerance gives one
    /// (`abs_zero_face_row`: FacialMMT's utterances without faces).
    pub fn output_with_rows(
        &mut self,
        name: &str,
        shape: &[usize],
        ours: &[f32],
        axis: usize,
        special_rows: &[usize],
    ) -> Result<(), ParityError> {
        self.seen_outputs.push(name.to_string());
        let (ref_shape, reference) = self.fixture.float(&format!("output.{name}"))?;
        self.report.compared += 1;
        if ref_shape != shape {
            self.fail(format!("output.{name}: shape {shape:?}, reference {ref_shape:?}"));
            return Ok(());
        }
        let err = max_abs_diff(ours, reference);
        self.report.max_abs_output_err = self.report.max_abs_output_err.max(err);
        let failure = match &self.tolerance {
            Tolerance::PerOutput(tolerance) => {
                let own = tolerance.get(name);
                let exact = own.and_then(|t| t.as_str()) == Some("exact");
                let abs = if exact {
                    0.0
                } else {
                    own.and_then(|t| tol_value(t, "abs"))
                        .or_else(|| tolerance.get("intermediates").and_then(|t| tol_value(t, "abs")))
                        .unwrap_or(1e-4)
                };
                let special = own.and_then(|t| tol_value(t, "abs_zero_face_row")).filter(|_| !special_rows.is_empty());
                if let Some(special_abs) = special {
                    let stride: usize = shape[axis + 1..].iter().product();
                    let in_special = |i: usize| special_rows.contains(&((i / stride) % shape[axis]));
                    let (mut regular, mut other) = (0.0f64, 0.0f64);
                    for (i, (o, r)) in ours.iter().zip(reference).enumerate() {
                        let d = (*o as f64 - *r as f64).abs();
                        let d = if d.is_nan() { f64::INFINITY } else { d };
                        if in_special(i) { other = other.max(d) } else { regular = regular.max(d) }
                    }
                    if regular > abs {
                        Some(format!("output.{name}: max |Δ| = {regular:.3e} > tolerance {abs:.1e}"))
                    } else if other > special_abs {
                        Some(format!(
                            "output.{name} (rows {special_rows:?}): max |Δ| = {other:.3e} > {special_abs:.1e}"
                        ))
                    } else {
                        None
                    }
                } else {
                    let within = match own.and_then(|t| tol_value(t, "rel")) {
                        // "either bound": absolute or relative to the reference's magnitude
                        Some(rel) => err <= abs || err <= rel * max_abs(reference),
                        None => err <= abs,
                    };
                    (!within || err.is_nan())
                        .then(|| format!("output.{name}: max |Δ| = {err:.3e} > tolerance {abs:.1e}"))
                }
            }
            Tolerance::Groups(groups) => {
                let bound = Tolerance::group_bound(groups, &format!("output.{name}"), &["outputs", "losses"]);
                bound.violation(ours, reference).map(|(i, diff, allowed)| {
                    format!("output.{name}[{i}]: |Δ| = {diff:.3e} > atol + rtol·|ref| = {allowed:.3e}")
                })
            }
            Tolerance::Flat { outputs, .. } => outputs.violation(ours, reference).map(|(i, diff, allowed)| {
                format!("output.{name}[{i}]: |Δ| = {diff:.3e} > atol + rtol·|ref| = {allowed:.3e}")
            }),
        };
        if let Some(message) = failure {
            self.fail(message);
        }
        Ok(())
    }

    /// Compares an integer output exactly.
    pub fn output_exact(&mut self, name: &str, ours: &[i64]) -> Result<(), ParityError> {
        self.seen_outputs.push(name.to_string());
        let (_, reference) = self.fixture.int(&format!("output.{name}"))?;
        self.report.compared += 1;
        if reference != ours {
            let wrong =
                reference.iter().zip(ours).filter(|(a, b)| a != b).count() + reference.len().abs_diff(ours.len());
            self.fail(format!("output.{name}: {wrong} of {} entries differ", reference.len()));
        }
        Ok(())
    }

    /// Compares the gradients we computed (by PyTorch name, PyTorch layout) with `grad.*`
    /// under the fixture's gradient tolerance (`max|ours − ref| ≤ rel · max|ref|` per tensor, or
    /// an elementwise group bound). A reference gradient we lack, or a gradient of ours the
    /// reference says is absent but is not zero, is a failure.
    pub fn grads(&mut self, ours: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Result<(), ParityError> {
        let names: Vec<String> = self.fixture.names_under("grad.").map(String::from).collect();
        for name in &names {
            let (ref_shape, reference) = self.fixture.float(&format!("grad.{name}"))?;
            self.report.compared += 1;
            let Some((shape, values)) = ours.get(name) else {
                self.fail(format!("grad.{name}: the model has no gradient for this parameter"));
                continue;
            };
            if shape.as_slice() != ref_shape {
                self.fail(format!("grad.{name}: shape {shape:?}, reference {ref_shape:?}"));
                continue;
            }
            // relative to the tensor's largest magnitude, or to the absolute tolerance where
            // that is larger (a gradient that is zero up to rounding noise has no scale)
            let floor = match &self.tolerance {
                Tolerance::PerOutput(_) => 0.0,
                Tolerance::Flat { grads, .. } => grads.atol,
                Tolerance::Groups(groups) => Tolerance::group_bound(groups, &format!("grad.{name}"), &["grads"]).atol,
            };
            let scale = max_abs(reference).max(floor);
            let err = max_abs_diff(values, reference);
            let relative = if scale > 0.0 { err / scale } else { err };
            let listed_zero = matches!(&self.tolerance, Tolerance::PerOutput(t) if zero_grad_bound(t, name).is_some());
            if !listed_zero {
                // a gradient listed as zero has no scale: it is held to its absolute bound below
                self.report.max_grad_err = self.report.max_grad_err.max(relative);
            }
            let failure = match &self.tolerance {
                // gradients that are zero in exact arithmetic: only an absolute bound means anything
                Tolerance::PerOutput(tolerance) if zero_grad_bound(tolerance, name).is_some() => {
                    let abs = zero_grad_bound(tolerance, name).unwrap_or_default();
                    (err > abs || err.is_nan()).then(|| {
                        format!("grad.{name}: max |Δ| = {err:.3e} > {abs:.1e} (a mathematically zero gradient)")
                    })
                }
                Tolerance::PerOutput(tolerance) => {
                    let rel = tolerance.get("grads").and_then(|g| tol_value(g, "rel_to_tensor_max")).unwrap_or(1e-3);
                    (relative > rel || relative.is_nan())
                        .then(|| format!("grad.{name}: max |Δ| / max |ref| = {relative:.3e} > {rel:.1e}"))
                }
                Tolerance::Groups(groups) => {
                    let bound = Tolerance::group_bound(groups, &format!("grad.{name}"), &["grads"]);
                    bound.violation(values, reference).map(|(i, diff, allowed)| {
                        format!("grad.{name}[{i}]: |Δ| = {diff:.3e} > atol + rtol·|ref| = {allowed:.3e}")
                    })
                }
                Tolerance::Flat { grads, .. } => {
                    let allowed = grads.atol + grads.rtol * max_abs(reference);
                    (err > allowed || err.is_nan()).then(|| {
                        format!("grad.{name}: max |Δ| = {err:.3e} > grad_atol + grad_rtol·max|ref| = {allowed:.3e}")
                    })
                }
            };
            if let Some(message) = failure {
                self.fail(message);
            }
        }
        for (name, (_, values)) in ours {
            if !names.contains(name) && values.iter().any(|v| *v != 0.0) {
                self.fail(format!("grad.{name}: the reference has no gradient here, ours is non-zero"));
            }
        }
        Ok(())
    }

    /// Ends the comparison. Every `output.*` of the fixture must have been compared.
    pub fn finish(mut self) -> ParityReport {
        let missed: Vec<String> = self
            .fixture
            .names_under("output.")
            .filter(|n| !self.seen_outputs.iter().any(|s| s == n))
            .map(String::from)
            .collect();
        for name in missed {
            self.fail(format!("output.{name}: not produced by our implementation, so not checked"));
        }
        self.report
    }
}

/// The absolute bound of a gradient the fixture lists as zero in exact arithmetic
/// (`mathematically_zero_grads: {names, abs}`).
fn zero_grad_bound(tolerance: &serde_json::Value, name: &str) -> Option<f64> {
    let zero = tolerance.get("mathematically_zero_grads")?;
    let listed = zero.get("names")?.as_array()?.iter().any(|n| n == name);
    listed.then(|| tol_value(zero, "abs").unwrap_or(1e-6))
}

fn max_abs(values: &[f32]) -> f64 {
    values.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let d = (*x as f64 - *y as f64).abs();
        if d.is_nan() { f64::NAN } else { m.max(d) }
    })
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

/// Runs the parity check of the fixture at `path` (its `.safetensors` file) on `backend`.
pub fn run_parity(path: &Path, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let fixture = Fixture::open(path)?;
    match fixture.model() {
        "mm-dfn" => mm_dfn::run(&fixture, backend),
        "multiemo" => multiemo::run(&fixture, backend),
        "maln" => maln::run(&fixture, backend),
        "facialmmt" => facialmmt::run(&fixture, backend),
        other => Err(ParityError::UnknownModel(other.to_string())),
    }
}
