//! MM-DFN parity: the reference's inputs (sequence-first) into a batch, every stage compared.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use erc_core::batch::HostBatch;
use erc_core::import::TorchNamed;
use erc_core::{BackendKind, DialogueBatch, PAD_LABEL};

use super::{Comparator, Fixture, ParityError, ParityReport, host, param_grads, swap_leading};
use crate::mm_dfn::{MmDfn, MmDfnConfig};

/// Reference input name and our modality name, in the reference's a, v, l order.
const INPUTS: [(char, &str, &str); 3] = [('a', "acouf", "audio"), ('v', "visuf", "visual"), ('l', "textf", "text")];

/// The reference's batch (`[T, B, D]` features, `qmask [T, B, S]`, `umask [B, T]`,
/// `label [B, T]`) as one of ours.
pub(crate) fn batch_from_inputs(
    fixture: &Fixture,
    modals: &str,
    device: &burn::tensor::Device,
) -> Result<DialogueBatch, ParityError> {
    let (umask_shape, umask) = fixture.float("input.umask")?;
    let [b, t] = [umask_shape[0], umask_shape[1]];
    // n_b = last index where umask = 1, plus 1 (the reference's rule)
    let lengths: Vec<usize> =
        (0..b).map(|i| (0..t).rev().find(|&j| umask[i * t + j] != 0.0).map_or(0, |j| j + 1)).collect();
    let (q_shape, qmask) = fixture.float("input.qmask")?;
    let s = q_shape[2];
    let mut speakers = vec![0i64; b * t];
    for (i, &n) in lengths.iter().enumerate() {
        for j in 0..n {
            let row = &qmask[(j * b + i) * s..(j * b + i + 1) * s];
            let slot = row
                .iter()
                .position(|&v| v != 0.0)
                .ok_or_else(|| fixture.error(format!("utterance {j} of dialogue {i} has no speaker in qmask")))?;
            speakers[i * t + j] = slot as i64;
        }
    }
    let (_, label) = fixture.int("input.label")?;
    let labels: Vec<i64> = (0..b * t).map(|r| if r % t < lengths[r / t] { label[r] } else { PAD_LABEL }).collect();
    let mut features = BTreeMap::new();
    for (initial, input, name) in INPUTS {
        if !modals.contains(initial) {
            continue;
        }
        let (shape, values) = fixture.float(&format!("input.{input}"))?;
        let d = shape[2];
        features.insert(name.to_string(), (d, swap_leading(values, t, b, d)));
    }
    let host = HostBatch { features, lengths, speakers, labels, speaker_slots: s };
    DialogueBatch::from_host(host, device).map_err(|e| fixture.error(e.to_string()))
}

/// Builds MM-DFN from the fixture, imports its weights and compares every output and gradient.
pub(crate) fn run(fixture: &Fixture, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let config_json = fixture.meta.get("config").ok_or_else(|| fixture.error("no `config` object"))?;
    let (mut config, spec) = MmDfnConfig::from_reference(config_json).map_err(|e| fixture.error(e.to_string()))?;
    config.dropout = 0.0; // the fixtures are computed in eval mode
    let modals = config.modalities.as_ref().map(|m| m.concat()).unwrap_or_else(|| "avl".into());
    let device = backend.training_device()?;
    let model = MmDfn::new(&config, &spec, &device).map_err(|e| fixture.error(e.to_string()))?;
    let model = model.import_pytorch(&fixture.tensors.with_prefix("param."), true)?;
    let batch = batch_from_inputs(fixture, &modals, &device)?;
    let pass = model.forward_pass(&batch, true).map_err(|e| fixture.error(e.to_string()))?;

    let [b, t] = [batch.batch_size(), batch.max_len()];
    let mut cmp = Comparator::new(fixture);
    let initials: Vec<char> = INPUTS.iter().filter(|(c, ..)| modals.contains(*c)).map(|(c, ..)| *c).collect();
    for (i, c) in initials.iter().enumerate() {
        let [_, _, d] = pass.projections[i].dims();
        cmp.output(&format!("proj_{c}"), &[t, b, d], &swap_leading(&host(pass.projections[i].clone()), b, t, d))?;
        let [n, d] = pass.nodes[i].dims();
        cmp.output(&format!("nodes_{c}"), &[n, d], &host(pass.nodes[i].clone()))?;
    }
    if let Some(ctx) = &pass.text_context {
        let [_, _, d] = ctx.dims();
        cmp.output("text_context", &[t, b, d], &swap_leading(&host(ctx.clone()), b, t, d))?;
    }
    let nodes = pass.fusion_out.dims()[0];
    cmp.output("adj", &[nodes, nodes], &pass.graph.dense_host())?;
    let trace = &pass.fusion_trace;
    if let Some(fc0) = &trace.input_projection {
        cmp.output("gdf_fc0", &fc0.dims(), &host(fc0.clone()))?;
    }
    for (name, layers) in [("gdf_memory", &trace.memory), ("gdf_cell", &trace.cell), ("gdf_conv", &trace.conv)] {
        let stacked = Tensor::stack::<3>(layers.clone(), 0);
        cmp.output(name, &stacked.dims(), &host(stacked))?;
    }
    cmp.output("gdf_out", &pass.fusion_out.dims(), &host(pass.fusion_out.clone()))?;
    cmp.output("fused", &pass.fused.dims(), &host(pass.fused.clone()))?;
    cmp.output("logits", &pass.logits.dims(), &host(pass.logits.clone()))?;
    cmp.output("log_prob", &pass.log_probs.dims(), &host(pass.log_probs.clone()))?;
    let pred: Vec<i64> = pass.log_probs.clone().argmax(1).into_data().convert::<i64>().iter::<i64>().collect();
    cmp.output_exact("pred", &pred)?;

    let loss = model
        .loss(model.to_padded(pass.log_probs.clone(), &batch), &batch)
        .ok_or_else(|| fixture.error("the batch has no labels"))?;
    cmp.output("loss", &[1], &host(loss.clone()))?;

    if fixture.has_grads() {
        cmp.grads(&param_grads(&model.param_table(), &loss.backward()))?;
    }
    Ok(cmp.finish())
}
