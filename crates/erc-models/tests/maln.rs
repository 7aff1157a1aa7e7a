//! MALN against the reference: the parity fixtures (HEAD and the first upload's specific-part
//! fusion), the IEMOCAP preset's parameter list, importer errors, the training loss, padding
//! invariance (which the reference lacks) and configuration errors.

use std::path::PathBuf;

mod common;

use burn::module::Module;
use common::{backend, device, floats, max_diff, random_batch, spec};
use erc_core::encoder::SpeakerRouting;
use erc_core::import::{AnyTensor, HostTensor, TorchNamed};
use erc_core::rnn::PaddedSteps;
use erc_core::{DialogueBatch, DialogueModel};
use erc_models::maln::reference::{ReferenceMaln, ReferenceNames, ReferenceSetup};
use erc_models::maln::{FusionSource, Maln, MalnConfig};
use erc_models::parity::Fixture;
use erc_models::run_parity;

fn fixtures() -> PathBuf {
    common::fixtures("maln")
}

#[test]
fn every_shipped_fixture_passes_parity() {
    for case in ["iemocap_small", "iemocap_small_specific_fusion"] {
        let report = run_parity(&fixtures().join(format!("{case}.safetensors")), backend()).unwrap();
        assert!(report.pass, "{case}: {:#?}", report.failures);
        // 41 outputs and 228 gradients
        assert!(report.compared >= 269, "{case}: only {} tensors compared", report.compared);
        println!("{case}: outputs {:.2e}, grads {:.2e}", report.max_abs_output_err, report.max_grad_err);
    }
}

#[test]
fn the_fixtures_configure_the_two_reference_versions() {
    for (case, source, adv, prefix) in [
        ("iemocap_small", FusionSource::Common, vec!["text", "visual", "audio"], "specific_feature_extractor_"),
        ("iemocap_small_specific_fusion", FusionSource::Specific, vec!["text"], "private_feature_extractor_"),
    ] {
        let fixture = Fixture::open(&fixtures().join(format!("{case}.safetensors"))).unwrap();
        let ReferenceSetup { config, names, spec } = ReferenceSetup::from_reference(&fixture.meta["config"]).unwrap();
        assert_eq!(config.fusion_source, source, "{case}");
        assert_eq!(config.adv_specific, adv, "{case}");
        assert_eq!(names.specific_param_prefix, prefix, "{case}");
        assert_eq!(spec.modality_dim("text").unwrap(), 64);
        assert_eq!(config.sclm_max_positions, 16);
    }
}

#[test]
fn the_iemocap_preset_has_the_reference_parameter_names_shapes_and_counts() {
    let text = std::fs::read_to_string(fixtures().join("presets.json")).unwrap();
    let presets: serde_json::Value = serde_json::from_str(&text).unwrap();
    let preset = &presets["presets"]["iemocap"];
    let ReferenceSetup { config, names, spec } = ReferenceSetup::from_reference(&preset["config"]).unwrap();
    // the reference's configuration is our preset, and none of its names enter our configuration
    assert_eq!(config, MalnConfig::iemocap());
    assert_eq!(names, ReferenceNames::default());
    let model = ReferenceMaln::new(&config, names, &spec, &device()).unwrap();
    let table = model.param_table();
    let model = model.model;
    let want = preset["state_dict"].as_array().unwrap();
    assert_eq!(table.entries.len(), want.len());
    assert_eq!(want.len() as u64, preset["n_tensors"].as_u64().unwrap());
    for (got, want) in table.entries.iter().zip(want) {
        assert_eq!(got.name, want["name"].as_str().unwrap());
        let shape: Vec<usize> =
            want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(got.shape, shape, "{}", got.name);
        // our model holds exactly what reaches the training loss
        assert_eq!(got.used, want["reaches_training_loss"].as_bool().unwrap(), "{}", got.name);
    }
    assert_eq!(table.total_params() as u64, preset["total_params"].as_u64().unwrap());
    assert_eq!(table.used_params() as u64, preset["params_reaching_training_loss"].as_u64().unwrap());
    assert_eq!(model.num_params(), table.used_params());
}

#[test]
fn strict_import_names_missing_misshaped_and_unexpected_keys() {
    let fixture = Fixture::open(&fixtures().join("iemocap_small.safetensors")).unwrap();
    let ReferenceSetup { config, names, spec } = ReferenceSetup::from_reference(&fixture.meta["config"]).unwrap();
    let fresh = |names: &ReferenceNames| ReferenceMaln::new(&config, names.clone(), &spec, &device()).unwrap();
    let params = fixture.tensors.with_prefix("param.");
    assert!(fresh(&names).import_pytorch(&params, true).is_ok());

    let key = "Visual_Topic_Transformer_Lisener.pos_encoder.weight";
    let mut missing = params.clone();
    missing.remove(key);
    let err = fresh(&names).import_pytorch(&missing, true).unwrap_err().to_string();
    assert!(err.contains(&format!("missing key `{key}`")), "{err}");

    let mut wrong = params.clone();
    wrong.insert("fc.3.weight", HostTensor::Float { shape: vec![7, 20], values: vec![0.0; 140] });
    let err = fresh(&names).import_pytorch(&wrong, true).unwrap_err().to_string();
    assert!(err.contains("`fc.3.weight` has shape [7, 20]"), "{err}");

    // a dead parameter of the wrong shape is refused too
    let mut dead_wrong = params.clone();
    dead_wrong.insert("Fusion_FC.bias", HostTensor::Float { shape: vec![3], values: vec![0.0; 3] });
    let err = fresh(&names).import_pytorch(&dead_wrong, true).unwrap_err().to_string();
    assert!(err.contains("Fusion_FC.bias"), "{err}");

    let mut extra = params.clone();
    extra.insert("L_AV.layers.1.fc.0.bias", HostTensor::Float { shape: vec![40], values: vec![0.0; 40] });
    let err = fresh(&names).import_pytorch(&extra, true).unwrap_err().to_string();
    assert!(err.contains("L_AV.layers.1.fc.0.bias"), "{err}");

    // the first upload's names are read when the configuration says so
    let first_upload = ReferenceNames { specific_param_prefix: "private_feature_extractor_".into(), ..names.clone() };
    let err = fresh(&first_upload).import_pytorch(&params, true).unwrap_err().to_string();
    assert!(err.contains("private_feature_extractor_text.0.weight"), "{err}");
}

fn small_config() -> MalnConfig {
    MalnConfig {
        hidden: 8,
        topic_dim: 6,
        sclm_ffn: 16,
        sclm_max_positions: 32,
        disc_hidden: 5,
        ..MalnConfig::iemocap()
    }
}

fn small_spec() -> erc_core::DataSpec {
    spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6)
}

#[test]
fn a_dialogues_log_probs_do_not_depend_on_its_batch() {
    for routing in [SpeakerRouting::Binary, SpeakerRouting::PerSpeaker] {
        for source in [FusionSource::Common, FusionSource::Specific] {
            let config = MalnConfig { speaker_routing: routing, fusion_source: source, ..small_config() };
            let model = Maln::new(&config, &small_spec(), &device()).unwrap();
            let (alone, in_batch) = common::alone_and_in_batch(&model);
            let err = max_diff(&alone, &in_batch);
            assert!(err <= 1e-5, "{routing:?}/{source:?}: log-probs differ by {err} alone and in a padded batch");
        }
    }
    // the reference's padded computation does depend on the batch (its documented quirk)
    let model = Maln::new(&small_config(), &small_spec(), &device()).unwrap().with_padded_steps(PaddedSteps::Reference);
    let (alone, in_batch) = common::alone_and_in_batch(&model);
    assert!(max_diff(&alone, &in_batch) > 1e-4, "reference padding should leak into real rows");
}

#[test]
fn training_gives_four_weighted_finite_loss_terms_and_evaluation_only_the_nll() {
    let d = device().autodiff();
    let model =
        Maln::new(&MalnConfig { speaker_routing: SpeakerRouting::PerSpeaker, ..small_config() }, &small_spec(), &d)
            .unwrap();
    let host = random_batch(&[(4, vec![0, 1]), (1, vec![2]), (3, vec![2, 0, 1])], 3, [12, 10, 8]);
    let batch = DialogueBatch::from_host(host.clone(), &d).unwrap();
    let out = model.forward(&batch).unwrap();
    assert_eq!(out.log_probs.dims(), [3, 4, 6]);
    let names: Vec<&str> = out.loss_terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["nll", "uni", "orth", "adv"]);
    let weights: Vec<f64> = out.loss_terms.iter().map(|t| t.weight).collect();
    assert_eq!(weights, [1.0, 0.1, 5e-6, 0.01]);
    let total = out.total_loss().unwrap();
    assert!(total.clone().into_scalar::<f32>().is_finite());
    let grads = total.backward();
    let table = ReferenceMaln { model: model.clone(), names: ReferenceNames::default() }.param_table();
    let mut with_grad = 0;
    for entry in table.entries.iter().filter_map(|e| e.tensor.as_ref()) {
        let g = match entry {
            AnyTensor::R1(p) => p.grad(&grads).map(floats),
            AnyTensor::R2(p) => p.grad(&grads).map(floats),
            AnyTensor::R3(p) => p.grad(&grads).map(floats),
        };
        if let Some(g) = g {
            assert!(g.iter().all(|v| v.is_finite()));
            with_grad += 1;
        }
    }
    // every parameter the model holds gets a gradient (training runs every part)
    assert_eq!(with_grad, table.entries.iter().filter(|e| e.used).count());

    // evaluation (a `valid()` copy on the plain device): the emotion NLL only
    let eval = model.valid();
    let out = eval.forward(&DialogueBatch::from_host(host, &device()).unwrap()).unwrap();
    let names: Vec<&str> = out.loss_terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["nll"]);
}

#[test]
fn bad_configurations_and_data_are_clear_errors() {
    let d = device();
    let err = |config: MalnConfig, spec: &erc_core::DataSpec| Maln::new(&config, spec, &d).unwrap_err().to_string();
    assert!(err(MalnConfig { cross_heads: 3, ..small_config() }, &small_spec()).contains("multiple of cross_heads"));
    assert!(err(MalnConfig { dropout: 1.0, ..small_config() }, &small_spec()).contains("[0, 1)"));
    let bad_adv = MalnConfig { adv_specific: vec!["depth".into()], ..small_config() };
    assert!(err(bad_adv, &small_spec()).contains("`depth`"));
    let mut nan = small_config();
    nan.loss_weights.orth = f64::NAN;
    assert!(err(nan, &small_spec()).contains("finite"));
    let no_visual = spec([("text", 12), ("audio", 10), ("face", 8)], 3, 6);
    assert!(err(small_config(), &no_visual).contains("`visual`"));

    // a dialogue longer than the position table
    let model = Maln::new(&MalnConfig { sclm_max_positions: 4, ..small_config() }, &small_spec(), &d).unwrap();
    let batch = DialogueBatch::from_host(random_batch(&[(5, vec![0, 1])], 1, [12, 10, 8]), &d).unwrap();
    let message = model.forward(&batch).unwrap_err().to_string();
    assert!(message.contains("position table") && message.contains("sclm_max_positions"), "{message}");

    // reference settings we do not implement are named
    let reference = serde_json::json!({"d_t": 8, "d_a": 4, "d_v": 4, "mask_padding": true});
    let message = ReferenceSetup::from_reference(&reference).unwrap_err().to_string();
    assert!(message.contains("mask_padding"), "{message}");
    let reference = serde_json::json!({"modality_ids": {"text": 0, "audio": 1, "visual": 2}});
    let message = ReferenceSetup::from_reference(&reference).unwrap_err().to_string();
    assert!(message.contains("modality_ids"), "{message}");
}
