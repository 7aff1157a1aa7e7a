//! The MM-DFN parity run: the reference's inputs (sequence-first) into a batch, every stage compared.

use burn::tensor::Tensor;
use erc_core::import::TorchNamed;
use erc_core::{BackendKind, DialogueBatch};

use super::{ReferenceMmDfn, ReferenceSetup};
use crate::parity::{
    Comparator, Fixture, ParityError, ParityReport, ReferenceInputs, host, param_grads, swap_leading, time_major_batch,
};

/// Reference input name and our modality name, in the reference's a, v, l order.
const INPUTS: [(char, &str, &str); 3] = [('a', "acouf", "audio"), ('v', "visuf", "visual"), ('l', "textf", "text")];

/// The reference's batch (`[T, B, D]` features of the modalities in `modals`, `qmask [T, B, S]`,
/// `umask [B, T]`, `label [B, T]`) as one of ours.
pub(crate) fn batch_from_inputs(
    fixture: &Fixture,
    modals: &str,
    device: &burn::tensor::Device,
) -> Result<DialogueBatch, ParityError> {
    let features = INPUTS
        .iter()
        .filter(|(initial, ..)| modals.contains(*initial))
        .map(|(_, input, name)| (*name, *input))
        .collect();
    time_major_batch(fixture, &ReferenceInputs { mask: "umask", speakers: "qmask", labels: "label", features }, device)
}

/// Builds MM-DFN from the fixture, imports its weights and compares every output and gradient.
pub(crate) fn parity(fixture: &Fixture, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let config_json = fixture.meta.get("config").ok_or_else(|| fixture.error("no `config` object"))?;
    let ReferenceSetup { mut config, max_seq_len, spec } =
        ReferenceSetup::from_reference(config_json).map_err(|e| fixture.error(e.to_string()))?;
    config.dropout = 0.0; // the fixtures are computed in eval mode
    let modals = config.modalities.as_ref().map(|m| m.concat()).unwrap_or_else(|| "avl".into());
    let device = backend.training_device()?;
    let model = crate::mm_dfn::MmDfn::new(&config, &spec, &device).map_err(|e| fixture.error(e.to_string()))?;
    let model = ReferenceMmDfn { model, max_seq_len }.import_pytorch(&fixture.tensors.with_prefix("param."), true)?;
    let table = model.param_table();
    let model = model.model;
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
        cmp.grads(&param_grads(&table, &loss.backward()))?;
    }
    Ok(cmp.finish())
}
