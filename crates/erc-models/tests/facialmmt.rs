//! FacialMMT against the reference: the parity fixture, the dialogue text layout rebuilt from
//! the fixture's per-utterance tokens, the paper presets' parameter names and shapes
//! (`presets.json`), importer errors, and the trainer path on a small random batch.

use std::path::PathBuf;

mod common;

use common::device;
use erc_core::import::{HostTensor, TorchNamed};
use erc_models::facialmmt::text::{Separator, SpecialTokens, dialogue_tokens};
use erc_models::facialmmt::{FacialMmt, FacialMmtConfig, FerHeadConfig, TextBranch};
use erc_models::parity::Fixture;
use erc_models::run_parity;

fn fixtures() -> PathBuf {
    common::fixtures("facialmmt")
}

/// On every compiled CPU backend (CI: flex and ndarray). wgpu is compared with flex by
/// `erc-train/tests/backends.rs`; on Mesa's software Vulkan this fixture alone takes a minute.
#[test]
fn the_fixture_passes_parity() {
    for backend in erc_core::BackendKind::compiled().into_iter().filter(|b| b.is_cpu()) {
        let report = run_parity(&fixtures().join("meld_small.safetensors"), backend).unwrap();
        assert!(report.pass, "{backend}: {:#?}", report.failures);
        // 22 outputs and 174 gradients
        assert_eq!(report.compared, 196, "tensors compared");
        println!("{backend}: outputs {:.2e}, grads {:.2e}", report.max_abs_output_err, report.max_grad_err);
    }
}

/// The reference's `<s> u1 </s></s> u2 … </s>` layout with its 444-token truncation,
/// rebuilt from each utterance's tokens, equals the fixture's ids, mask and separator mask.
#[test]
fn dialogue_layout_reproduces_the_reference_ids_exactly() {
    let fixture = Fixture::open(&fixtures().join("meld_small.safetensors")).unwrap();
    let dialogues = fixture.meta["dialogues"].as_array().unwrap();
    let (shape, ids) = fixture.int("input.batch_text_input_ids").unwrap();
    let (_, mask) = fixture.int("input.batch_text_input_mask").unwrap();
    let (_, sep) = fixture.int("input.batch_text_sep_mask").unwrap();
    let l = shape[1];
    let mut truncated_somewhere = false;
    for (row, item) in fixture.meta["batch"].as_array().unwrap().iter().enumerate() {
        let dialogue = dialogues.iter().find(|d| d["dialogue"] == item["dialogue"]).unwrap();
        let utterances: Vec<Vec<i64>> = dialogue["utterances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["token_ids"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect())
            .collect();
        truncated_somewhere |= dialogue["n_tokens_after_truncation"] != dialogue["n_tokens_before_truncation"];
        let layout = dialogue_tokens(&utterances, Separator::Roberta, SpecialTokens::ROBERTA, l).unwrap();
        assert_eq!(layout.ids, ids[row * l..(row + 1) * l], "row {row}");
        assert_eq!(layout.mask, mask[row * l..(row + 1) * l], "row {row}");
        assert_eq!(layout.sep, sep[row * l..(row + 1) * l], "row {row}");
    }
    assert!(truncated_somewhere, "the fixture exercises the truncation");
}

fn presets() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("presets.json")).unwrap()).unwrap()
}

/// Our parameter table at the paper widths lists exactly the reference's 185 fusion keys, in
/// order, with their shapes (A_max and V_max set to sentinel lengths), and the FER head's.
#[test]
fn the_paper_preset_has_the_reference_names_and_shapes() {
    let presets = presets();
    let preset = &presets["presets"]["multimodal_T+A+V_RoBERTa"];
    let (a_max, v_max) = (123, 45);
    let config = FacialMmtConfig { audio_len: a_max, vision_len: v_max, ..FacialMmtConfig::paper() };
    let model = FacialMmt::new(&config, &device()).unwrap();
    let table = model.param_table();
    let want = preset["state_dict"].as_array().unwrap();
    assert_eq!(table.entries.len(), want.len());
    for (ours, theirs) in table.entries.iter().zip(want) {
        assert_eq!(ours.name, theirs["name"].as_str().unwrap());
        let shape: Vec<usize> = theirs["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| match d.as_str() {
                Some("A_max") => a_max,
                Some("V_max") => v_max,
                _ => d.as_u64().unwrap() as usize,
            })
            .collect();
        assert_eq!(ours.shape, shape, "{}", ours.name);
        assert_eq!(ours.used, theirs["used"].as_bool().unwrap(), "{}", ours.name);
    }
    let constant = preset["fusion_params"]["constant"].as_u64().unwrap() as usize;
    assert_eq!(table.used_params(), constant + 768 * (a_max + v_max));

    // the FER head of the Swin checkpoint: linear [64, 512], classifier [7, 64]
    let swin = &presets["presets"]["swin_tiny_fer"]["state_dict"];
    let head = FerHeadConfig::new(512, 64, 7).init(&device()).param_table();
    for entry in &head.entries {
        let theirs = swin.as_array().unwrap().iter().find(|e| e["name"] == entry.name.as_str()).unwrap();
        let shape: Vec<usize> =
            theirs["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(entry.shape, shape, "{}", entry.name);
    }
    assert_eq!(head.used_params() as u64, presets["presets"]["swin_tiny_fer"]["n_params_fer_head"].as_u64().unwrap());
}

/// The PLM branch adds the language model's keys under `roberta.` (pooler unused).
#[test]
fn the_fixture_config_imports_strictly_and_names_missing_keys() {
    let fixture = Fixture::open(&fixtures().join("meld_small.safetensors")).unwrap();
    let config = FacialMmtConfig::from_reference(&fixture.meta["config"]).unwrap();
    assert!(matches!(config.text, TextBranch::Plm { separator: Separator::Roberta, .. }));
    let params = fixture.tensors.with_prefix("param.");
    let model = FacialMmt::new(&config, &device()).unwrap();
    assert!(model.param_table().entries.iter().any(|e| e.name == "roberta.pooler.dense.weight" && !e.used));
    let mut broken = params.clone();
    broken.remove("CrossModalTrans_TA_V.layers.0.self_attn.in_proj_weight");
    let err = FacialMmt::new(&config, &device()).unwrap().import_pytorch(&broken, true).unwrap_err();
    assert!(err.to_string().contains("CrossModalTrans_TA_V.layers.0.self_attn.in_proj_weight"), "{err}");
    let mut extra = params.clone();
    extra.insert("surprise.weight", HostTensor::Float { shape: vec![1], values: vec![0.0] });
    let err = FacialMmt::new(&config, &device()).unwrap().import_pytorch(&extra, true).unwrap_err();
    assert!(err.to_string().contains("surprise.weight"), "{err}");
}
