//! The same model on flex and ndarray: forward pass and one training step agree.

use std::path::Path;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use erc_core::training::TrainingPreset;
use erc_core::{BackendKind, DialogueModel};
use erc_data::{Batcher, Dataset, SynthConfig};
use erc_models::{
    BiGruConfig, BiGruModel, FacialMmtConfig, FacialMmtModel, MalnConfig, MalnModel, MlpConfig, MlpModel, MmDfnConfig,
    MmDfnModel, ModelFactory, MultiEmoConfig, MultiEmoModel,
};
use erc_train::optim::build_optimizer;

/// Largest absolute difference between two models' log-probabilities on the same dialogues.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

struct Side {
    log_probs: Vec<f32>,
    loss: f32,
    after_step: Vec<f32>,
}

fn run_side<F: ModelFactory>(config: &F::Config, ds: &Dataset, weights: &Path, device: Device) -> Side {
    let model = F::build(config, &ds.spec(), &device).unwrap().try_load_file(weights).unwrap();
    let batcher = Batcher::new(4);
    let ids = [0usize, 1, 2, 3];
    let eval_device = device.clone().inner();
    let probs = |m: &F::Model| -> Vec<f32> {
        let batch = batcher.load(ds, &ids, &eval_device).unwrap();
        m.valid().forward(&batch).unwrap().log_probs.into_data().iter::<f32>().collect()
    };
    let log_probs = probs(&model);
    let batch = batcher.load(ds, &ids, &device).unwrap();
    let loss = model.forward(&batch).unwrap().total_loss().unwrap();
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = build_optimizer(&TrainingPreset::default()).step(1e-2, model, grads);
    Side { log_probs, loss: loss_value, after_step: probs(&model) }
}

fn compare<F: ModelFactory>(config: F::Config, ds: &Dataset, dir: &Path) {
    let flex = BackendKind::Flex.training_device().unwrap();
    let weights = dir.join(format!("{}.bpk", F::NAME));
    F::build(&config, &ds.spec(), &flex).unwrap().save_file(&weights).unwrap();
    let a = run_side::<F>(&config, ds, &weights, flex);
    let b = run_side::<F>(&config, ds, &weights, BackendKind::Ndarray.training_device().unwrap());
    let forward = max_diff(&a.log_probs, &b.log_probs);
    let step = max_diff(&a.after_step, &b.after_step);
    assert!(forward < 1e-4, "{}: forward differs by {forward}", F::NAME);
    assert!((a.loss - b.loss).abs() < 1e-4, "{}: loss {} vs {}", F::NAME, a.loss, b.loss);
    assert!(step < 1e-4, "{}: after one step outputs differ by {step}", F::NAME);
    assert!(max_diff(&a.log_probs, &a.after_step) > 1e-3, "{}: the step changed the model", F::NAME);
    eprintln!("{}: flex vs ndarray forward {forward:.2e}, after one Adam step {step:.2e}", F::NAME);
}

#[test]
fn flex_and_ndarray_agree_on_forward_and_one_training_step() {
    if !BackendKind::Ndarray.is_compiled() {
        eprintln!("ndarray is not compiled into this test build: nothing to compare (CI's command enables it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    SynthConfig::meld_like(1)
        .with_dims(&[6, 5, 4])
        .with_dialogues(6, 2, 2)
        .generate()
        .unwrap()
        .write(tmp.path().join("ds"))
        .unwrap();
    let ds = Dataset::open(tmp.path().join("ds")).unwrap();
    // dropout off: a training step must not depend on each backend's random stream
    compare::<BiGruModel>(BiGruConfig { dropout: 0.0, hidden: 8, ..BiGruConfig::default() }, &ds, tmp.path());
    compare::<MlpModel>(MlpConfig { dropout: 0.0, hidden: 8, ..MlpConfig::default() }, &ds, tmp.path());
    let mm_dfn = MmDfnConfig { dropout: 0.0, gdf_layers: 3, ..MmDfnConfig::meld() };
    compare::<MmDfnModel>(mm_dfn, &ds, tmp.path());
    let small =
        MultiEmoConfig { d_model: 8, heads: 2, d_ff: 16, fusion_layers: 2, d_mlp: 8, ..MultiEmoConfig::iemocap() };
    compare::<MultiEmoModel>(small.clone(), &ds, tmp.path());
    compare::<MultiEmoModel>(MultiEmoConfig { context: MultiEmoConfig::meld().context, ..small }, &ds, tmp.path());
    let maln = MalnConfig {
        hidden: 8,
        topic_dim: 6,
        sclm_ffn: 16,
        sclm_max_positions: 64,
        disc_hidden: 5,
        ..MalnConfig::meld().without_dropout()
    };
    compare::<MalnModel>(maln.clone(), &ds, tmp.path());
    compare::<MalnModel>(
        MalnConfig { speaker_routing: MalnConfig::iemocap().speaker_routing, ..maln },
        &ds,
        tmp.path(),
    );

    // FacialMMT reads per-utterance sequences
    SynthConfig::meld_sequences(1)
        .with_dims(&[6, 5, 4])
        .with_dialogues(6, 2, 2)
        .generate()
        .unwrap()
        .write(tmp.path().join("seq"))
        .unwrap();
    let seq = Dataset::open(tmp.path().join("seq")).unwrap();
    let facialmmt = FacialMmtConfig {
        width: 8,
        heads: 2,
        d_ff: 16,
        cmt_ta_heads: 2,
        cmt_tav_heads: 2,
        cmt_d_ff: 16,
        fer_hidden: 8,
        ..FacialMmtConfig::small().without_dropout()
    };
    compare::<FacialMmtModel>(facialmmt.clone(), &seq, tmp.path());
    // the reference's unmasked cross-modal mode
    compare::<FacialMmtModel>(FacialMmtConfig { cmt_key_padding: false, ..facialmmt }, &seq, tmp.path());
}
