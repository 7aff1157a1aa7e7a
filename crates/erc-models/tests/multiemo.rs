//! MultiEMO against the reference: parity fixtures (model and both losses), the paper presets'
//! parameter lists, importer errors, and padding invariance (which the reference lacks).

use std::path::PathBuf;

mod common;

use burn::module::Module;
use common::{backend, device, floats, max_diff, random_batch, spec};
use erc_core::import::{HostTensor, TorchNamed};
use erc_core::rnn::PaddedSteps;
use erc_core::{DialogueBatch, DialogueModel};
use erc_models::multiemo::reference::ReferenceSetup;
use erc_models::multiemo::{MultiEmo, MultiEmoConfig};
use erc_models::parity::Fixture;
use erc_models::run_parity;

fn fixtures() -> PathBuf {
    common::fixtures("multiemo")
}

#[test]
fn every_shipped_fixture_passes_parity() {
    for (case, at_least) in [("iemocap_small", 300), ("meld_small", 250), ("swfc_loss", 18), ("softhgr_loss", 24)] {
        let report = run_parity(&fixtures().join(format!("{case}.safetensors")), backend()).unwrap();
        assert!(report.pass, "{case}: {:#?}", report.failures);
        assert!(report.compared >= at_least, "{case}: only {} tensors compared", report.compared);
        println!("{case}: outputs {:.2e}, grads {:.2e}", report.max_abs_output_err, report.max_grad_err);
    }
}

#[test]
fn paper_presets_have_the_reference_parameter_names_shapes_and_counts() {
    let text = std::fs::read_to_string(fixtures().join("presets.json")).unwrap();
    let presets: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (name, ours) in [("IEMOCAP", MultiEmoConfig::iemocap()), ("MELD", MultiEmoConfig::meld())] {
        let preset = &presets["presets"][name];
        let setup = ReferenceSetup::from_reference(&preset["config"]).unwrap();
        // the reference's configuration is our named preset
        assert_eq!(setup.config, ours, "{name}");
        let model = setup.build(&setup.config, &device()).unwrap();
        let table = model.param_table();
        let want = preset["state_dict"].as_array().unwrap();
        assert_eq!(table.entries.len(), want.len(), "{name}: key count");
        assert_eq!(want.len() as u64, preset["num_tensors"].as_u64().unwrap());
        for (got, want) in table.entries.iter().zip(want) {
            assert_eq!(got.name, want[0].as_str().unwrap(), "{name}");
            let shape: Vec<usize> = want[1].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(got.shape, shape, "{name}: {}", got.name);
        }
        let unused: Vec<&str> = table.entries.iter().filter(|e| !e.used).map(|e| e.name.as_str()).collect();
        let without_grad: Vec<&str> =
            preset["parameters_without_grad"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(unused, without_grad, "{name}: the parameters the preset never runs");
        assert_eq!(table.total_params() as u64, preset["num_parameters"].as_u64().unwrap(), "{name}");
        let dead = preset["num_parameters_without_grad"].as_u64().unwrap();
        assert_eq!(table.used_params() as u64, preset["num_parameters"].as_u64().unwrap() - dead, "{name}");
        assert_eq!(model.num_params(), table.used_params(), "{name}: our model holds exactly the used parameters");
    }
}

#[test]
fn strict_import_names_missing_misshaped_and_unexpected_keys() {
    let fixture = Fixture::open(&fixtures().join("meld_small.safetensors")).unwrap();
    let setup = ReferenceSetup::from_reference(&fixture.meta["config"]).unwrap();
    let fresh = || setup.build(&setup.config, &device()).unwrap();
    let params = fixture.tensors.with_prefix("param.");
    // the MELD state_dict carries the text DialogueRNN and the reverse RNNs it never runs
    assert!(params.get("text_dialoguernn.dialog_rnn_f.dialogue_cell.g_cell.weight_ih").is_some());
    assert!(fresh().import_pytorch(&params, true).is_ok());

    let key = "multiattn.multiattn_audio.multiattn_layers.1.attn_2.attention_heads.1.value_matrix.bias";
    let mut missing = params.clone();
    missing.remove(key);
    let err = fresh().import_pytorch(&missing, true).unwrap_err().to_string();
    assert!(err.contains(&format!("missing key `{key}`")), "{err}");

    let mut wrong = params.clone();
    wrong.insert("mlp.linear_2.weight", HostTensor::Float { shape: vec![6, 64], values: vec![0.0; 6 * 64] });
    let err = fresh().import_pytorch(&wrong, true).unwrap_err().to_string();
    assert!(err.contains("`mlp.linear_2.weight` has shape [6, 64]"), "{err}");

    let dead = "audio_dialoguernn.dialog_rnn_r.dialogue_cell.e_cell.bias_hh";
    let mut dead_wrong = params.clone();
    dead_wrong.insert(dead, HostTensor::Float { shape: vec![2], values: vec![0.0; 2] });
    let err = fresh().import_pytorch(&dead_wrong, true).unwrap_err().to_string();
    assert!(err.contains(dead), "{err}");

    let mut extra = params.clone();
    extra.insert(
        "multiattn.multiattn_text.multiattn_layers.2.ff.linear_W1.bias",
        HostTensor::Float { shape: vec![64], values: vec![0.0; 64] },
    );
    let err = fresh().import_pytorch(&extra, true).unwrap_err().to_string();
    assert!(err.contains("multiattn_layers.2.ff.linear_W1.bias"), "{err}");
}

fn small_config() -> MultiEmoConfig {
    MultiEmoConfig { d_model: 8, heads: 2, d_ff: 16, fusion_layers: 2, d_mlp: 8, ..MultiEmoConfig::iemocap() }
}

/// The target dialogue's log-probs alone and inside a padded batch: `(alone, in batch)`.
fn alone_and_in_batch(config: &MultiEmoConfig, padded: PaddedSteps) -> (Vec<f32>, Vec<f32>) {
    let spec = spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6);
    common::alone_and_in_batch(&MultiEmo::new(config, &spec, &device()).unwrap().with_padded_steps(padded))
}

#[test]
fn a_dialogues_log_probs_do_not_depend_on_its_batch() {
    for context in [MultiEmoConfig::iemocap().context, MultiEmoConfig::meld().context] {
        let (alone, in_batch) = alone_and_in_batch(&MultiEmoConfig { context, ..small_config() }, PaddedSteps::Skip);
        let err = max_diff(&alone, &in_batch);
        assert!(err <= 1e-5, "{context:?}: log-probs differ by {err} alone and in a padded batch");
    }
    // the reference's padded computation does depend on the batch (its documented quirk)
    let (alone, in_batch) = alone_and_in_batch(&small_config(), PaddedSteps::Reference);
    assert!(max_diff(&alone, &in_batch) > 1e-4, "reference padding should leak into real rows");
}

#[test]
fn a_training_batch_gives_three_finite_loss_terms_and_gradients() {
    let d = device().autodiff();
    let spec = spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6);
    let model = MultiEmo::new(&MultiEmoConfig { context: MultiEmoConfig::meld().context, ..small_config() }, &spec, &d)
        .unwrap();
    let batch = DialogueBatch::from_host(random_batch(&[(4, vec![0, 1]), (1, vec![2])], 3, [12, 10, 8]), &d).unwrap();
    let out = model.forward(&batch).unwrap();
    assert_eq!(out.log_probs.dims(), [2, 4, 6]);
    let names: Vec<&str> = out.loss_terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hgr", "swfc", "ce"]);
    let weights: Vec<f64> = out.loss_terms.iter().map(|t| t.weight).collect();
    assert_eq!(weights, [0.4, 0.4, 0.2]); // λ of the IEMOCAP preset
    let total = out.total_loss().unwrap();
    assert!(total.clone().into_scalar::<f32>().is_finite());
    let grads = total.backward();
    let table = model.param_table();
    let with_grad = table.entries.iter().filter(|e| e.used).count();
    assert!(with_grad > 0);
    for entry in table.entries.iter().filter_map(|e| e.tensor.as_ref()) {
        let finite = match entry {
            erc_core::import::AnyTensor::R1(p) => p.grad(&grads).map(|g| floats(g).iter().all(|v| v.is_finite())),
            erc_core::import::AnyTensor::R2(p) => p.grad(&grads).map(|g| floats(g).iter().all(|v| v.is_finite())),
            erc_core::import::AnyTensor::R3(p) => p.grad(&grads).map(|g| floats(g).iter().all(|v| v.is_finite())),
        };
        assert_ne!(finite, Some(false));
    }
}

/// A fixture the generator could have written for another speaker pattern: MELD's speaker slots
/// relabelled (the reference treats every slot alike, so its outputs do not change).
#[test]
fn parity_holds_when_speaker_slots_are_relabelled() {
    common::assert_parity_with_relabelled_speakers("multiemo", "meld_small", "input.speaker_masks");
}

#[test]
fn bad_configurations_and_data_are_clear_errors() {
    let d = device();
    let spec3 = spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6);
    let err =
        |config: MultiEmoConfig, spec: &erc_core::DataSpec| MultiEmo::new(&config, spec, &d).unwrap_err().to_string();
    assert!(err(MultiEmoConfig { heads: 3, ..small_config() }, &spec3).contains("multiple of heads"));
    let mut negative = small_config();
    negative.loss.focus = -0.5;
    assert!(err(negative, &spec3).contains("focus ≥ 0"));
    let mut counts = small_config();
    counts.loss.class_counts = Some(vec![1.0; 4]);
    assert!(err(counts, &spec3).contains("class_counts needs 6"));
    let text_only = spec([("text", 12), ("words", 10), ("pixels", 8)], 3, 6);
    assert!(err(small_config(), &text_only).contains("`audio`"));
    // the reference configuration refuses what its scripts never run
    let fixture = Fixture::open(&fixtures().join("iemocap_small.safetensors")).unwrap();
    let mut config = fixture.meta["config"].clone();
    config["listener_state"] = serde_json::Value::Bool(true);
    let refused = ReferenceSetup::from_reference(&config).unwrap_err().to_string();
    assert!(refused.contains("listener_state"), "{refused}");
}
