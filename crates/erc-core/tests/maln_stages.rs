//! MALN stages built from erc-core parts against the reference fixture's intermediates: the six
//! speaker-characteristic CLS encoders (SCLM), the context encoders and the cross-modal fusion.

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use erc_core::BackendKind;
use erc_core::attention::CrossFusionLayerConfig;
use erc_core::encoder::ClsEncoderConfig;
use erc_core::import::{HostTensor, TensorFile, TorchImporter};

fn fixture() -> TensorFile {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = base.join("fixtures/maln/iemocap_small.safetensors");
    TensorFile::read(&path)
        .unwrap_or_else(|e| panic!("{e}: the parity fixtures live in ../shared (set ERC_SHARED_DIR)"))
}

fn float<'a>(file: &'a TensorFile, name: &str) -> (&'a [usize], &'a [f32]) {
    match file.get(name) {
        Some(HostTensor::Float { shape, values }) => (shape, values),
        _ => panic!("float tensor {name} missing"),
    }
}

#[test]
fn cls_encoders_reproduce_the_reference_dialogue_summaries() {
    let file = fixture();
    let device = BackendKind::default_compiled().unwrap().device().unwrap();
    let params = file.with_prefix("param.");
    for (input, prefix, short, width) in
        [("text", "Text", "text", 64), ("acoustic", "Acoustic", "audio", 24), ("visual", "Visual", "visual", 32)]
    {
        let x = batch_first(&file, &format!("input.{input}"), &device);
        let [b, _, d] = x.dims();
        assert_eq!(d, width);
        for (role, name) in [("Speaker", "speaker"), ("Lisener", "listener")] {
            let encoder = ClsEncoderConfig::new(width, 16, 16, 0.0)
                .init(&device)
                .visit_torch(&mut TorchImporter::lenient(&params), &format!("{prefix}_Topic_Transformer_{role}"))
                .unwrap();
            let ours: Vec<f32> = encoder.forward(x.clone(), None).into_data().iter::<f32>().collect();
            let (want_shape, want) = float(&file, &format!("output.sclm_{name}_{short}"));
            assert_eq!(want_shape, &[b, d]);
            for (o, r) in ours.iter().zip(want) {
                assert!((o - r).abs() <= 2e-4 + 2e-4 * r.abs(), "{prefix} {role}: {o} vs {r}");
            }
        }
    }
}

#[test]
fn cross_fusion_layer_reproduces_the_reference_fusion_from_the_common_features() {
    use erc_core::import::import_linear;
    let file = fixture();
    let device = BackendKind::default_compiled().unwrap().device().unwrap();
    let params = file.with_prefix("param.");
    let tensor = |name: &str| {
        let (shape, values) = float(&file, &format!("output.{name}"));
        Tensor::<3>::from_data(TensorData::new(values.to_vec(), shape.to_vec()), &device)
    };
    let close = |ours: Tensor<3>, name: &str| {
        let (_, want) = float(&file, &format!("output.{name}"));
        let ours: Vec<f32> = ours.into_data().iter::<f32>().collect();
        assert_eq!(ours.len(), want.len(), "{name}");
        for (o, r) in ours.iter().zip(want) {
            assert!((o - r).abs() <= 2e-4 + 2e-4 * r.abs(), "{name}: {o} vs {r}");
        }
    };
    let mut importer = TorchImporter::lenient(&params);
    // N = av_fc([C^a ; C^v]), hidden 20
    let av_fc = import_linear(&mut importer, "av_fc", burn::nn::LinearConfig::new(40, 20).init(&device)).unwrap();
    let av = av_fc.forward(Tensor::cat(vec![tensor("common_audio"), tensor("common_visual")], 2));
    close(av.clone(), "av");
    let layer =
        CrossFusionLayerConfig::new(20, 4, 0.0).init(&device).visit_torch(&mut importer, "L_AV.layers.0").unwrap();
    close(layer.forward(tensor("common_text"), av, None), "fusion");
}

/// `[L, B, d]` time-major values as a batch-first `[B, L, d]` tensor.
fn batch_first(file: &TensorFile, name: &str, device: &burn::tensor::Device) -> Tensor<3> {
    let (shape, values) = float(file, name);
    let [l, b, d] = [shape[0], shape[1], shape[2]];
    let mut out = vec![0f32; values.len()];
    for t in 0..l {
        for i in 0..b {
            out[(i * l + t) * d..(i * l + t + 1) * d].copy_from_slice(&values[(t * b + i) * d..(t * b + i + 1) * d]);
        }
    }
    Tensor::from_data(TensorData::new(out, [b, l, d]), device)
}

#[test]
fn context_encoders_are_the_masked_bigru_plus_a_linear() {
    use burn::tensor::activation::relu;
    use erc_core::import::import_linear;
    use erc_core::rnn::MaskedBiGruConfig;
    let file = fixture();
    let device = BackendKind::default_compiled().unwrap().device().unwrap();
    let params = file.with_prefix("param.");
    let mut importer = TorchImporter::lenient(&params);
    for (input, module, output, d) in [
        ("text", "TexGRU", "ctx_text", 64),
        ("acoustic", "AcousticGRU", "ctx_audio", 24),
        ("visual", "VisualGRU", "ctx_visual", 32),
    ] {
        let x = batch_first(&file, &format!("input.{input}"), &device);
        let [b, l, _] = x.dims();
        let gru = MaskedBiGruConfig::new(d, d).with_num_layers(2).init(&device);
        let gru = gru.visit_torch(&mut importer, &format!("{module}.gru")).unwrap();
        let linear = import_linear(
            &mut importer,
            &format!("{module}.linear"),
            burn::nn::LinearConfig::new(2 * d, d).init(&device),
        )
        .unwrap();
        let ours: Vec<f32> = relu(linear.forward(gru.forward(x, &vec![l; b]))).into_data().iter::<f32>().collect();
        let want: Vec<f32> =
            batch_first(&file, &format!("output.{output}"), &device).into_data().iter::<f32>().collect();
        for (o, r) in ours.iter().zip(&want) {
            assert!((o - r).abs() <= 2e-4 + 2e-4 * r.abs(), "{module}: {o} vs {r}");
        }
    }
}
