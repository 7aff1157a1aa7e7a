//! The FacialMMT parity run: the frame filter on the fixture's FER logits, the tiny PLM over whole
//! dialogues, span extraction, encoders, both cross-modal stages, pooling, classifier, loss and
//! every gradient, in eval mode. Utterances without faces (`batch_vis_num_imgs == 0`) are held
//! to their own bounds where the fixture gives them.

use std::ops::Range;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use erc_core::BackendKind;
use erc_core::import::TorchNamed;

use crate::facialmmt::text::utterance_span;
use crate::facialmmt::{FacialMmt, FacialMmtConfig, TextBranch, UtteranceInputs};
use crate::parity::{Comparator, Fixture, ParityError, ParityReport, host, param_grads, swap_leading};

fn float_tensor<const D: usize>(fixture: &Fixture, name: &str, device: &Device) -> Result<Tensor<D>, ParityError> {
    let (shape, values) = fixture.float(&format!("input.{name}"))?;
    if shape.len() != D {
        return Err(fixture.error(format!("input.{name} has rank {}, expected {D}", shape.len())));
    }
    Ok(Tensor::from_data(TensorData::new(values.to_vec(), shape.to_vec()), device))
}

fn int_tensor(fixture: &Fixture, name: &str, device: &Device) -> Result<Tensor<2, Int>, ParityError> {
    let (shape, values) = fixture.int(&format!("input.{name}"))?;
    if shape.len() != 2 {
        return Err(fixture.error(format!("input.{name} has rank {}, expected 2", shape.len())));
    }
    Ok(Tensor::from_data(TensorData::new(values.to_vec(), shape.to_vec()), device))
}

/// Each utterance's token span from the separator mask and its index in the dialogue.
fn spans(fixture: &Fixture, config: &FacialMmtConfig) -> Result<Vec<Range<usize>>, ParityError> {
    let TextBranch::Plm { separator, .. } = config.text else {
        return Err(fixture.error("the fixture's config has no `plm`: FacialMMT parity needs the PLM branch"));
    };
    let (shape, sep) = fixture.int("input.batch_text_sep_mask")?;
    let (_, index) = fixture.int("input.batchUtt_in_dia_idx")?;
    let l = shape[1];
    (0..shape[0])
        .map(|i| {
            utterance_span(&sep[i * l..(i + 1) * l], index[i] as usize, separator, config.text_len)
                .map_err(|e| fixture.error(format!("utterance {i}: {e}")))
        })
        .collect()
}

/// Runs a FacialMMT parity fixture.
pub(crate) fn parity(fixture: &Fixture, backend: BackendKind) -> Result<ParityReport, ParityError> {
    let device = backend.training_device()?;
    let config_json = fixture.meta.get("config").ok_or_else(|| fixture.error("no `config` object"))?;
    let config = FacialMmtConfig::from_reference(config_json).map_err(|e| fixture.error(e))?.without_dropout();
    let model = FacialMmt::new(&config, &device).map_err(|e| fixture.error(e.to_string()))?;
    let model = model.import_pytorch(&fixture.tensors.with_prefix("param."), true)?;

    // the frame filter, on the FER logits that stand in for Swin + head
    let faces: Tensor<3> = float_tensor(fixture, "vision_inputs", &device)?;
    let fer_logits: Tensor<3> = float_tensor(fixture, "face_emotion_logits", &device)?;
    let [b, v, _] = faces.dims();
    let (_, face_mask) = fixture.float("input.vision_mask")?;
    let valid: Vec<bool> = face_mask.iter().map(|&m| m != 0.0).collect();
    let (_, face_counts) = fixture.int("input.batch_vis_num_imgs")?;
    let faceless: Vec<usize> = (0..b).filter(|&i| face_counts[i] == 0).collect();
    let filtered = model.filter(faces, fer_logits, &valid);
    let mut cmp = Comparator::new(fixture);
    let importance: Vec<f32> =
        filtered.importance.iter().zip(&valid).map(|(&s, &real)| if real { s } else { 0.0 }).collect();
    cmp.output("face_emotion_importance", &[b, v], &importance)?;
    let kept: Vec<i64> =
        importance.iter().zip(&valid).map(|(&s, &real)| i64::from(real && s > config.fer_threshold)).collect();
    cmp.output_exact("face_kept", &kept)?;
    let vision_mask = filtered.mask_tensor();
    cmp.output("new_vision_mask", &[b, v], &host(vision_mask.clone()))?;
    cmp.output("vision_inputs_concat", &filtered.rows.dims(), &host(filtered.rows.clone()))?;

    // text: the PLM over each utterance's dialogue, then its span
    let ids = int_tensor(fixture, "batch_text_input_ids", &device)?;
    let mask = int_tensor(fixture, "batch_text_input_mask", &device)?;
    let text = model.plm_text(ids, mask, &spans(fixture, &config)?).map_err(|e| fixture.error(e.to_string()))?;
    cmp.output("plm_last_hidden_state", &text.hidden.dims(), &host(text.hidden.clone()))?;
    cmp.output("text_linear", &text.projected.dims(), &host(text.projected.clone()))?;
    cmp.output("text_utt_feat", &text.text.dims(), &host(text.text.clone()))?;
    cmp.output("text_utt_mask", &text.text_mask.dims(), &host(text.text_mask.clone()))?;

    let inputs = UtteranceInputs {
        text: text.text,
        text_mask: text.text_mask,
        audio: float_tensor(fixture, "audio_inputs", &device)?,
        audio_mask: float_tensor(fixture, "audio_mask", &device)?,
        vision: filtered.rows,
        vision_mask,
    };
    let pass = model.fuse(inputs);
    let rows = |name: &str, x: &Tensor<3>, cmp: &mut Comparator<'_>| {
        cmp.output_with_rows(name, &x.dims(), &host(x.clone()), 0, &faceless)
    };
    rows("audio_utt_trans", &pass.audio, &mut cmp)?;
    rows("vision_utt_trans", &pass.vision, &mut cmp)?;
    // the cross-modal outputs are sequence-first in the reference
    let seq_first = |name: &str, x: &Tensor<3>, cmp: &mut Comparator<'_>| {
        let [n, l, d] = x.dims();
        cmp.output_with_rows(name, &[l, n, d], &swap_leading(&host(x.clone()), n, l, d), 1, &faceless)
    };
    seq_first("cmt_ta_text", &pass.ta_text, &mut cmp)?;
    seq_first("cmt_ta_audio", &pass.ta_audio, &mut cmp)?;
    seq_first("cmt_tav_vision", &pass.tav_vision, &mut cmp)?;
    seq_first("cmt_tav_textaudio", &pass.tav_text_audio, &mut cmp)?;
    let (table_shape, _) = fixture.float("output.cmt_positional_table")?;
    let table = model.cmt_tav.positional_table(table_shape[0].saturating_sub(1), &device);
    cmp.output("cmt_positional_table", &table.dims(), &host(table))?;
    rows("final_utt_feat", &pass.fused, &mut cmp)?;
    cmp.output("final_utt_mask", &pass.mask.dims(), &host(pass.mask.clone()))?;
    let l = pass.alpha.dims()[1];
    cmp.output_with_rows("attention_alpha", &[b, 1, l], &host(pass.alpha.clone()), 0, &faceless)?;
    cmp.output_with_rows("pooled", &pass.pooled.dims(), &host(pass.pooled.clone()), 0, &faceless)?;
    cmp.output_with_rows("logits", &pass.logits.dims(), &host(pass.logits.clone()), 0, &faceless)?;
    let log_probs = log_softmax(pass.logits, 1);
    cmp.output_with_rows("log_probs", &log_probs.dims(), &host(log_probs.clone()), 0, &faceless)?;

    let (_, labels) = fixture.int("input.batch_label_ids")?;
    let labels = Tensor::<2, Int>::from_data(TensorData::new(labels.to_vec(), [b, 1]), &device);
    let loss = log_probs.gather(1, labels).mean().neg(); // [1]
    let (loss_shape, _) = fixture.float("output.loss")?;
    cmp.output("loss", loss_shape, &host(loss.clone()))?;
    if fixture.has_grads() {
        cmp.grads(&param_grads(&model.param_table(), &loss.backward()))?;
    }
    Ok(cmp.finish())
}
