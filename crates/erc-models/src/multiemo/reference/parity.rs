//! The MultiEMO parity runs: the whole model (reference inputs, sequence-first, every stage, the loss
//! terms and every gradient), and the two losses alone (SWFC and Soft-HGR fixtures, values and
//! input gradients).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use erc_core::BackendKind;
use erc_core::batch::index_tensor;
use erc_core::import::TorchNamed;
use erc_core::loss::{SwfcLoss, soft_hgr_loss, swfc_class_weights};

use super::ReferenceSetup;
use crate::multiemo::MODALITIES;
use crate::parity::{
    Comparator, Fixture, ParityError, ParityReport, ReferenceInputs, host, param_grads, swap_leading, time_major_batch,
};

/// Reference input name of each modality, in [`MODALITIES`] order.
const INPUTS: [&str; 3] = ["texts", "audios", "visuals"];

/// Which kind of MultiEMO fixture this is, from its inputs.
pub(crate) fn parity(fixture: &Fixture, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let device = backend.training_device()?;
    let has_input = |suffix: &str| fixture.names_under("input.").any(|n| n.ends_with(suffix));
    if fixture.tensors.get("input.texts").is_some() {
        run_model(fixture, &device)
    } else if has_input(".features") {
        run_swfc(fixture, &device)
    } else if has_input(".f_t") {
        run_soft_hgr(fixture, &device)
    } else {
        Err(fixture
            .error("not a MultiEMO model, SWFC or Soft-HGR fixture (no input.texts, input.*.features or input.*.f_t)"))
    }
}

/// Rows of a pass at the labelled utterances, `[N, D]` on the host.
fn labelled(x: &Tensor<2>, index: &[usize], device: &Device) -> (Vec<usize>, Vec<f32>) {
    let rows = x.clone().select(0, index_tensor(index, device));
    (rows.dims().to_vec(), host(rows))
}

/// A scalar output, compared under the reference's shape (`[]` or `[1]`).
fn scalar(cmp: &mut Comparator<'_>, fixture: &Fixture, name: &str, value: Tensor<1>) -> Result<(), ParityError> {
    let (shape, _) = fixture.float(&format!("output.{name}"))?;
    cmp.output(name, shape, &host(value))
}

fn run_model(fixture: &Fixture, device: &Device) -> Result<ParityReport, ParityError> {
    let config_json = fixture.meta.get("config").ok_or_else(|| fixture.error("no `config` object"))?;
    let setup = ReferenceSetup::from_reference(config_json).map_err(|e| fixture.error(e.to_string()))?;
    let config = &setup.config;
    let model = setup.build(config, device).map_err(|e| fixture.error(e.to_string()))?;
    let model = model.import_pytorch(&fixture.tensors.with_prefix("param."), true)?;
    let features = MODALITIES.iter().copied().zip(INPUTS).collect();
    let inputs =
        ReferenceInputs { mask: "utterance_masks", speakers: "speaker_masks", labels: "padded_labels", features };
    let batch = time_major_batch(fixture, &inputs, device)?;
    let pass = model.forward_pass(&batch).map_err(|e| fixture.error(e.to_string()))?;

    let [b, t] = [batch.batch_size(), batch.max_len()];
    let d = config.d_model;
    let seq_first = |x: &Tensor<3>| swap_leading(&host(x.clone()), b, t, x.dims()[2]);
    let rows = pass.labelled_rows(&batch);
    let mut cmp = Comparator::new(fixture);
    for (m, name) in MODALITIES.iter().enumerate() {
        cmp.output(&format!("proj_{name}"), &[t, b, d], &seq_first(&pass.projections[m]))?;
        if let Some(states) = &pass.forward_states[m] {
            cmp.output(&format!("drnn_f_{name}"), &[t, b, d], &seq_first(states))?;
        }
        if let Some(states) = &pass.backward_states[m] {
            cmp.output(&format!("drnn_b_{name}"), &[t, b, d], &seq_first(states))?;
        }
        cmp.output(&format!("context_{name}"), &[t, b, d], &seq_first(&pass.contexts[m]))?;
        for (l, layer) in pass.fusion_layers[m].iter().enumerate() {
            let grid = pass.layout.to_grid(layer.clone());
            cmp.output(&format!("multiattn_{name}_layer{l}"), &[b, t, d], &host(grid))?;
        }
        let (shape, values) = labelled(pass.fusion_layers[m].last().expect("layers"), &rows, device);
        cmp.output(&format!("fused_{name}"), &shape, &values)?;
    }
    let (shape, values) = labelled(&pass.features, &rows, device);
    cmp.output("fc_outputs", &shape, &values)?;
    let (shape, logits) = labelled(&pass.logits, &rows, device);
    cmp.output("logits", &shape, &logits)?;
    let classes = shape[1];
    let pred: Vec<i64> = logits
        .chunks(classes)
        .map(|row| row.iter().enumerate().fold(0, |best, (c, v)| if *v > row[best] { c } else { best }) as i64)
        .collect();
    cmp.output_exact("pred", &pred)?;
    cmp.output("swfc_class_weights", &[classes], model.swfc_class_weights())?;

    let losses = model.losses(&pass, &batch).ok_or_else(|| fixture.error("the batch has no labels"))?;
    let total = model.total_loss(&losses);
    scalar(&mut cmp, fixture, "loss", total.clone())?;
    scalar(&mut cmp, fixture, "loss_hgr", losses.hgr.loss.clone())?;
    scalar(&mut cmp, fixture, "loss_swfc", losses.swfc.clone())?;
    scalar(&mut cmp, fixture, "loss_ce", losses.ce.clone())?;
    if fixture.has_grads() {
        cmp.grads(&param_grads(&model.param_table(), &total.backward()))?;
    }
    Ok(cmp.finish())
}

/// The `config.cases` entries of a loss fixture.
fn cases(fixture: &Fixture) -> Result<Vec<serde_json::Value>, ParityError> {
    fixture
        .meta
        .pointer("/config/cases")
        .and_then(|c| c.as_array())
        .cloned()
        .ok_or_else(|| fixture.error("no `config.cases` list"))
}

fn case_number(fixture: &Fixture, case: &serde_json::Value, key: &str) -> Result<f64, ParityError> {
    case.get(key).and_then(|v| v.as_f64()).ok_or_else(|| fixture.error(format!("a case lacks `{key}`")))
}

fn case_name(fixture: &Fixture, case: &serde_json::Value) -> Result<String, ParityError> {
    case.get("name").and_then(|v| v.as_str()).map(String::from).ok_or_else(|| fixture.error("a case has no `name`"))
}

/// An input matrix of the fixture as a tracked tensor.
fn tracked(fixture: &Fixture, name: &str, device: &Device) -> Result<Tensor<2>, ParityError> {
    let (shape, values) = fixture.float(name)?;
    if shape.len() != 2 {
        return Err(fixture.error(format!("`{name}` is not a matrix")));
    }
    Ok(Tensor::<2>::from_data(TensorData::new(values.to_vec(), [shape[0], shape[1]]), device).require_grad())
}

fn run_swfc(fixture: &Fixture, device: &Device) -> Result<ParityReport, ParityError> {
    let mut cmp = Comparator::new(fixture);
    let mut grads = BTreeMap::new();
    for case in cases(fixture)? {
        let name = case_name(fixture, &case)?;
        let (_, counts) = fixture.float(&format!("input.{name}.class_counts"))?;
        let counts: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        let weights = swfc_class_weights(&counts, case_number(fixture, &case, "alpha")?);
        cmp.output(&format!("{name}.class_weights"), &[weights.len()], &weights)?;
        let (_, labels) = fixture.int(&format!("input.{name}.labels"))?;
        if labels.iter().any(|&y| y < 0 || y as usize >= weights.len()) {
            return Err(fixture.error(format!("{name}: a label is outside 0..{}", weights.len())));
        }
        let labels: Vec<usize> = labels.iter().map(|&y| y as usize).collect();
        let features = tracked(fixture, &format!("input.{name}.features"), device)?;
        let loss = SwfcLoss {
            temperature: case_number(fixture, &case, "tau")?,
            focus: case_number(fixture, &case, "gamma")?,
            class_weights: weights,
        }
        .forward(features.clone(), &labels);
        scalar(&mut cmp, fixture, &format!("{name}.loss"), loss.clone())?;
        if let Some(g) = features.grad(&loss.backward()) {
            grads.insert(format!("{name}.features"), (g.dims().to_vec(), host(g)));
        }
    }
    if fixture.has_grads() {
        cmp.grads(&grads)?;
    }
    Ok(cmp.finish())
}

fn run_soft_hgr(fixture: &Fixture, device: &Device) -> Result<ParityReport, ParityError> {
    let mut cmp = Comparator::new(fixture);
    let mut grads = BTreeMap::new();
    for case in cases(fixture)? {
        let name = case_name(fixture, &case)?;
        let inputs: Vec<Tensor<2>> = ["f_t", "f_a", "f_v"]
            .iter()
            .map(|f| tracked(fixture, &format!("input.{name}.{f}"), device))
            .collect::<Result<_, _>>()?;
        let [n, d] = inputs[0].dims();
        if d < 2 || inputs.iter().any(|x| x.dims() != [n, d]) {
            return Err(fixture.error(format!("{name}: three [N, D ≥ 2] matrices of one shape are needed")));
        }
        let hgr = soft_hgr_loss([inputs[0].clone(), inputs[1].clone(), inputs[2].clone()]);
        scalar(&mut cmp, fixture, &format!("{name}.loss"), hgr.loss.clone())?;
        cmp.output(&format!("{name}.feature_mapping"), &[3], &host(hgr.mapping))?;
        cmp.output(&format!("{name}.feature_covariance"), &[3], &host(hgr.covariance))?;
        let backward = hgr.loss.backward();
        for (f, x) in ["f_t", "f_a", "f_v"].iter().zip(&inputs) {
            if let Some(g) = x.grad(&backward) {
                grads.insert(format!("{name}.{f}"), (g.dims().to_vec(), host(g)));
            }
        }
    }
    if fixture.has_grads() {
        cmp.grads(&grads)?;
    }
    Ok(cmp.finish())
}
