//! Comparing our values with a fixture's references under its tolerances.

use std::collections::BTreeMap;

use super::{Fixture, ParityError, ParityReport};

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
