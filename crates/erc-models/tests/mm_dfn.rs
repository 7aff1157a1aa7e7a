//! MM-DFN against the reference: parity fixtures, reference parameter lists, importer errors,
//! and padding invariance (which the reference itself does not have).

use std::path::PathBuf;

mod common;

use common::{backend, device, floats, random_batch, spec};

use burn::tensor::{Tensor, TensorData};
use erc_core::graph::DynamicFusionConfig;
use erc_core::graph::{MultimodalGraph, NodeLayout};
use erc_core::import::{HostTensor, TensorFile, TorchImporter, TorchNamed};
use erc_core::{DialogueBatch, DialogueModel};
use erc_models::mm_dfn::reference::{ReferenceMmDfn, ReferenceSetup};
use erc_models::mm_dfn::{MmDfn, MmDfnConfig};
use erc_models::parity::Fixture;
use erc_models::run_parity;

fn fixtures() -> PathBuf {
    common::fixtures("mm-dfn")
}

#[test]
fn every_shipped_fixture_passes_parity() {
    for case in ["iemocap_small", "meld_small", "single_dialogue"] {
        let report = run_parity(&fixtures().join(format!("{case}.safetensors")), backend()).unwrap();
        assert!(report.pass, "{case}: {:#?}", report.failures);
        assert!(report.compared >= 18, "{case}: only {} tensors compared", report.compared);
        println!("{case}: outputs {:.2e}, grads {:.2e}", report.max_abs_output_err, report.max_grad_err);
    }
}

/// The fusion stack and the graph, fed the reference's node features, reproduce the
/// reference's adjacency and fusion output on their own.
#[test]
fn graph_and_fusion_alone_reproduce_the_reference_stages() {
    let fixture = Fixture::open(&fixtures().join("iemocap_small.safetensors")).unwrap();
    let d = device();
    let node = |m: &str| {
        let (shape, values) = fixture.float(&format!("output.nodes_{m}")).unwrap();
        Tensor::<2>::from_data(TensorData::new(values.to_vec(), shape.to_vec()), &d)
    };
    let nodes = vec![node("a"), node("v"), node("l")];
    let graph = MultimodalGraph::build(&nodes, &NodeLayout { lengths: vec![7, 7, 7], max_len: 7 }, 1.0);
    let (_, adj) = fixture.float("output.adj").unwrap();
    let err = graph.dense_host().iter().zip(adj).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-4, "adjacency differs by {err}");

    let fusion = DynamicFusionConfig::new(200, 100, 4).init(&d);
    let params = fixture.tensors.with_prefix("param.");
    let fusion = fusion.visit_torch(&mut TorchImporter::lenient(&params), "graph_model.graph_net").unwrap();
    let (out, _) = fusion.forward(Tensor::cat(nodes, 0), &graph, false);
    let (_, want) = fixture.float("output.gdf_out").unwrap();
    let err = floats(out).iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-4, "fusion output differs by {err}");
}

#[test]
fn paper_presets_have_the_reference_parameter_names_shapes_and_counts() {
    let text = std::fs::read_to_string(fixtures().join("presets.json")).unwrap();
    let presets: serde_json::Value = serde_json::from_str(&text).unwrap();
    let presets = presets["presets"].as_object().unwrap();
    assert!(presets.len() >= 5);
    for (name, preset) in presets {
        let ReferenceSetup { config, max_seq_len, spec } = ReferenceSetup::from_reference(&preset["config"]).unwrap();
        // the reference config equals our named preset for the paper's settings
        let ours = if name.starts_with("iemocap") { MmDfnConfig::iemocap() } else { MmDfnConfig::meld() };
        assert_eq!(config.speaker_weights, ours.speaker_weights, "{name}");
        assert_eq!(config.class_weights, ours.class_weights, "{name}");
        let model = MmDfn::new(&config, &spec, &device()).unwrap();
        let table = ReferenceMmDfn { model: model.clone(), max_seq_len }.param_table();
        let want = preset["state_dict"].as_array().unwrap();
        assert_eq!(table.entries.len(), want.len(), "{name}: key count");
        for (got, want) in table.entries.iter().zip(want) {
            assert_eq!(got.name, want["name"].as_str().unwrap(), "{name}");
            let shape: Vec<usize> =
                want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(got.shape, shape, "{name}: {}", got.name);
            assert_eq!(got.used, want["used"].as_bool().unwrap(), "{name}: {}", got.name);
        }
        assert_eq!(table.total_params() as u64, preset["total_params"].as_u64().unwrap(), "{name}");
        assert_eq!(table.used_params() as u64, preset["used_params"].as_u64().unwrap(), "{name}");
        use burn::module::Module;
        assert_eq!(model.num_params(), table.used_params(), "{name}: our model holds exactly the used parameters");
    }
    // and the named presets build the IEMOCAP L16 / MELD L32 configurations
    assert_eq!(MmDfnConfig::iemocap().gdf_layers, 16);
    assert_eq!(MmDfnConfig::meld().gdf_layers, 32);
}

#[test]
fn strict_import_names_missing_and_misshaped_keys() {
    let fixture = Fixture::open(&fixtures().join("iemocap_small.safetensors")).unwrap();
    let ReferenceSetup { config, max_seq_len, spec } = ReferenceSetup::from_reference(&fixture.meta["config"]).unwrap();
    let fresh = || ReferenceMmDfn { model: MmDfn::new(&config, &spec, &device()).unwrap(), max_seq_len };
    let params = fixture.tensors.with_prefix("param.");

    let mut missing = params.clone();
    missing.remove("rnn_parties.weight_hh_l1_reverse");
    let err = fresh().import_pytorch(&missing, true).unwrap_err().to_string();
    assert!(err.contains("missing key `rnn_parties.weight_hh_l1_reverse`"), "{err}");

    let mut wrong = params.clone();
    wrong.insert("smax_fc.weight", HostTensor::Float { shape: vec![6, 901], values: vec![0.0; 6 * 901] });
    let err = fresh().import_pytorch(&wrong, true).unwrap_err().to_string();
    assert!(err.contains("`smax_fc.weight` has shape [6, 901]"), "{err}");

    let mut dead_wrong = params.clone();
    dead_wrong.insert("gatedatt.transform_av.bias", HostTensor::Float { shape: vec![2], values: vec![0.0; 2] });
    let err = fresh().import_pytorch(&dead_wrong, true).unwrap_err().to_string();
    assert!(err.contains("gatedatt.transform_av.bias"), "{err}");

    let mut extra = params.clone();
    extra.insert(
        "graph_model.graph_net.convs.4.weight",
        HostTensor::Float { shape: vec![200, 100], values: vec![0.0; 20000] },
    );
    let err = fresh().import_pytorch(&extra, true).unwrap_err().to_string();
    assert!(err.contains("convs.4.weight"), "{err}");

    // round trip: export our used parameters, re-import them leniently into a fresh model
    let imported = fresh().import_pytorch(&params, true).unwrap();
    let exported: TensorFile = TensorFile::from_bytes(&imported.param_table().to_tensor_file().to_bytes()).unwrap();
    assert_eq!(exported.get("smax_fc.weight"), params.get("smax_fc.weight"));
    assert!(fresh().import_pytorch(&exported, false).is_ok());
}

#[test]
fn a_dialogues_log_probs_do_not_depend_on_its_batch() {
    let spec = spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6);
    let config = MmDfnConfig { gdf_layers: 4, dropout: 0.0, ..MmDfnConfig::iemocap() };
    let (alone, in_batch) = common::alone_and_in_batch(&MmDfn::new(&config, &spec, &device()).unwrap());
    let err = common::max_diff(&alone, &in_batch);
    assert!(err <= 1e-5, "log-probs differ by {err} between the dialogue alone and in a padded batch");
}

#[test]
fn modality_subsets_build_and_run() {
    let d = device();
    let spec = spec([("text", 12), ("audio", 10), ("visual", 8)], 3, 6);
    for (modals, width) in [("l", 300), ("al", 600), ("avl", 900)] {
        let config = MmDfnConfig { modalities: Some(vec![modals.into()]), gdf_layers: 2, ..MmDfnConfig::meld() };
        let model = MmDfn::new(&config, &spec, &d).unwrap();
        let batch =
            DialogueBatch::from_host(random_batch(&[(4, vec![0, 1]), (2, vec![2])], 1, [12, 10, 8]), &d).unwrap();
        let pass = model.forward_pass(&batch, false).unwrap();
        assert_eq!(pass.fused.dims(), [6, width], "{modals}");
        let out = model.forward(&batch).unwrap();
        assert_eq!(out.log_probs.dims(), [2, 4, 6]);
        assert_eq!(out.loss_terms.len(), 1);
        let loss: f32 = out.loss_terms[0].value.clone().into_scalar();
        assert!(loss.is_finite() && loss > 0.0, "{modals}: {loss}");
    }
    let bad = MmDfnConfig { modalities: Some(vec!["x".into()]), ..MmDfnConfig::iemocap() };
    assert!(MmDfn::new(&bad, &spec, &d).is_err());
}

/// A fixture the generator could have written for another speaker pattern: the same case with
/// MELD's speaker slots relabelled (the reference runs every slot alike, so its outputs do not
/// change) must still pass, and the importer must not care which slots are used.
#[test]
fn parity_holds_when_speaker_slots_are_relabelled() {
    common::assert_parity_with_relabelled_speakers("mm-dfn", "meld_small", "input.qmask");
}
