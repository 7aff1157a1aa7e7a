//! The MALN parity run: the whole model from the reference's inputs (time-major features,
//! one-hot speakers, batch-major masks and labels), every stage the fixture captured, the loss
//! terms and every gradient, in eval mode (dropout off) with the training-only parts running.

use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use erc_core::BackendKind;
use erc_core::import::TorchNamed;

use super::{ReferenceMaln, ReferenceSetup};
use crate::maln::MODALITIES;
use crate::parity::{
    Comparator, Fixture, ParityError, ParityReport, ReferenceInputs, host, param_grads, swap_leading, time_major_batch,
};

/// Reference input name of each modality, in [`MODALITIES`] order.
const INPUTS: [&str; 3] = ["text", "acoustic", "visual"];

/// Runs a MALN parity fixture.
pub(crate) fn parity(fixture: &Fixture, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let device = backend.training_device()?;
    let config_json = fixture.meta.get("config").ok_or_else(|| fixture.error("no `config` object"))?;
    let setup = ReferenceSetup::from_reference(config_json).map_err(|e| fixture.error(e.to_string()))?;
    // the fixtures are in eval mode: no dropout, but the training-only parts run
    let config = setup.config.without_dropout();
    let model =
        ReferenceMaln::new(&config, setup.names, &setup.spec, &device).map_err(|e| fixture.error(e.to_string()))?;
    let model = model.import_pytorch(&fixture.tensors.with_prefix("param."), true)?;
    let table = model.param_table();
    let model = model.model;
    let features = MODALITIES.iter().copied().zip(INPUTS).collect();
    let inputs = ReferenceInputs { mask: "umask", speakers: "qmask", labels: "label", features };
    let batch = time_major_batch(fixture, &inputs, &device)?;
    let pass = model.forward_pass(&batch, true).map_err(|e| fixture.error(e.to_string()))?;
    let aux = model.auxiliary(&pass);
    let losses = model.losses(&pass, &aux, &batch).ok_or_else(|| fixture.error("the batch has no labels"))?;

    let [b, t] = [batch.batch_size(), batch.max_len()];
    let time_major = |x: &Tensor<3>| swap_leading(&host(x.clone()), b, t, x.dims()[2]);
    let shape = |x: &Tensor<3>| x.dims().to_vec();
    let time_major_shape = |x: &Tensor<3>| vec![t, b, x.dims()[2]];
    let mut cmp = Comparator::new(fixture);
    let specific = pass.specific.as_ref().expect("asked for");
    // the reference's outputs are suffixed with our modality names
    for (m, name) in MODALITIES.iter().enumerate() {
        let c = &pass.characteristics[m];
        cmp.output(&format!("ctx_{name}"), &time_major_shape(&pass.contexts[m]), &time_major(&pass.contexts[m]))?;
        cmp.output(&format!("sclm_speaker_{name}"), &c.speaker.dims(), &host(c.speaker.clone()))?;
        cmp.output(&format!("sclm_listener_{name}"), &c.listener.dims(), &host(c.listener.clone()))?;
        cmp.output(&format!("topic_{name}"), &time_major_shape(&pass.topics[m]), &time_major(&pass.topics[m]))?;
        cmp.output(&format!("specific_{name}"), &shape(&specific[m]), &host(specific[m].clone()))?;
        cmp.output(&format!("common_{name}"), &shape(&pass.common[m]), &host(pass.common[m].clone()))?;
        cmp.output(&format!("log_prob_{name}"), &time_major_shape(&aux.unimodal[m]), &time_major(&aux.unimodal[m]))?;
        let disc = &aux.disc_specific[m];
        cmp.output(&format!("disc_specific_{name}"), &shape(disc), &host(disc.clone()))?;
        let disc = &aux.disc_common[m];
        cmp.output(&format!("disc_common_{name}"), &shape(disc), &host(disc.clone()))?;
    }
    cmp.output("common_feature", &shape(&pass.common_sum), &host(pass.common_sum.clone()))?;
    cmp.output("av", &shape(&pass.av), &host(pass.av.clone()))?;
    cmp.output("fusion", &shape(&pass.fusion), &host(pass.fusion.clone()))?;
    cmp.output("emotion_feature", &shape(&pass.features), &host(pass.features.clone()))?;
    cmp.output("log_prob", &time_major_shape(&pass.log_probs), &time_major(&pass.log_probs))?;
    if fixture.tensors.get("output.common_pred").is_some() {
        let common_pred = dead_common_classifier(fixture, &pass.common_sum, &device)?;
        cmp.output("common_pred", &time_major_shape(&common_pred), &time_major(&common_pred))?;
    }

    let total = model.total_loss(&losses);
    let orth = losses.orth();
    let adv = losses.adv();
    let all_loss = orth.clone().mul_scalar(config.loss_weights.orth) + adv.clone().mul_scalar(config.loss_weights.adv);
    scalar(&mut cmp, fixture, "all_loss", all_loss)?;
    scalar(&mut cmp, fixture, "loss", total.clone())?;
    scalar(&mut cmp, fixture, "loss_nll", losses.nll.clone())?;
    scalar(&mut cmp, fixture, "loss_uni", losses.uni.clone())?;
    scalar(&mut cmp, fixture, "loss_orth", orth)?;
    scalar(&mut cmp, fixture, "loss_adv", adv)?;
    let orth_terms = Tensor::cat(losses.orth_terms.clone(), 0);
    cmp.output("loss_orth_terms", &orth_terms.dims(), &host(orth_terms))?;
    let adv_terms = Tensor::cat([losses.adv_specific_terms.clone(), losses.adv_common_terms.clone()].concat(), 0);
    cmp.output("loss_adv_terms", &adv_terms.dims(), &host(adv_terms))?;
    if fixture.has_grads() {
        cmp.grads(&param_grads(&table, &total.backward()))?;
    }
    Ok(cmp.finish())
}

/// The reference's dead common classifier, `log_softmax(sigmoid(W C̄ + b))` (it returns it
/// but no loss reads it), computed from the fixture's own weights: `[B, T, K]`.
fn dead_common_classifier(
    fixture: &Fixture,
    common_sum: &Tensor<3>,
    device: &Device,
) -> Result<Tensor<3>, ParityError> {
    let (w_shape, w) = fixture.float("param.common_classfier.0.weight")?;
    let (_, bias) = fixture.float("param.common_classfier.0.bias")?;
    let weight = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [w_shape[0], w_shape[1]]), device).transpose();
    let bias = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [w_shape[0]]), device);
    let logits = common_sum.clone().detach().matmul(weight.unsqueeze()) + bias.unsqueeze::<3>();
    Ok(log_softmax(sigmoid(logits), 2))
}

/// A scalar output, compared under the reference's shape (`[]` or `[1]`).
fn scalar(cmp: &mut Comparator<'_>, fixture: &Fixture, name: &str, value: Tensor<1>) -> Result<(), ParityError> {
    let (shape, _) = fixture.float(&format!("output.{name}"))?;
    cmp.output(name, shape, &host(value))
}
