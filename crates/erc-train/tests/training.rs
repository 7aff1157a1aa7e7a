//! End-to-end training on synthetic data: selection, reports, checkpoints, resume, seeds.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use erc_core::training::OptimizerKind;
use erc_core::{BackendKind, MetricKind};
use erc_data::{Dataset, SynthConfig};
use erc_train::evaluate::evaluate_checkpoint;
use erc_train::{Checkpoint, RunConfig, RunOptions, TrainError, train, train_seeds};

/// burn seeds a process-wide RNG (initialisation, dropout): trainings running in parallel
/// threads would draw from it in an unpredictable interleaving. Tests that train hold this lock.
static RNG: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn synthetic(dir: &Path, seed: u64) -> Dataset {
    SynthConfig::iemocap_like(seed)
        .with_dims(&[16, 16, 16])
        .with_dialogues(40, 10, 12)
        .generate()
        .unwrap()
        .write(dir)
        .unwrap();
    Dataset::open(dir).unwrap()
}

fn config(model: &str, epochs: usize) -> RunConfig {
    let mut c = RunConfig::from_preset(model, None).unwrap();
    c.training.epochs = epochs;
    c.training.batch_size = 8;
    c.backend = BackendKind::Flex;
    c
}

#[test]
fn the_reference_model_beats_the_majority_class_and_selects_on_validation() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ds = synthetic(&tmp.path().join("data"), 1);
    let report = train(&ds, &config("bigru", 12), &RunOptions::quiet(tmp.path().join("run"))).unwrap();
    let test = &report.test.metrics;
    let majority = &report.majority_baseline_test;
    assert!(
        test.weighted_f1 > majority.weighted_f1 + 0.3,
        "bigru {} vs majority {}",
        test.weighted_f1,
        majority.weighted_f1
    );
    assert!(test.accuracy > majority.accuracy + 0.2);
    // the selected epoch is the best validation epoch
    let best = report.epochs.iter().map(|e| e.valid.metrics.weighted_f1).fold(f64::MIN, f64::max);
    let selected = &report.epochs[report.selected_epoch - 1];
    assert_eq!(selected.valid.metrics.weighted_f1, best);
    assert_eq!(report.selected_valid, selected.valid);
    assert!(selected.improved);
    // the report and both checkpoints exist
    for f in ["report.json", "checkpoints/best/model.bpk", "checkpoints/last/model.bpk", "checkpoints/last/state.json"]
    {
        assert!(tmp.path().join("run").join(f).exists(), "{f}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run/report.json")).unwrap()).unwrap();
    assert_eq!(json["selected_epoch"].as_u64().unwrap() as usize, report.selected_epoch);
    assert_eq!(json["test"]["metrics"]["confusion"].as_array().unwrap().len(), 6);
    assert_eq!(json["epochs"].as_array().unwrap().len(), report.epochs.len());

    // the best checkpoint, evaluated again, gives the report's test numbers
    let ckpt = Checkpoint::open(&tmp.path().join("run/checkpoints/best")).unwrap();
    assert_eq!(ckpt.meta.epoch, report.selected_epoch);
    let again = evaluate_checkpoint(&ckpt, &ds, "test", BackendKind::Flex, 5, false).unwrap();
    assert_eq!(again.metrics.confusion, report.test.metrics.confusion);
}

#[test]
fn context_helps_on_synthetic_data() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ds = synthetic(&tmp.path().join("data"), 2);
    let bigru = train(&ds, &config("bigru", 12), &RunOptions::quiet(tmp.path().join("bigru"))).unwrap();
    let mlp = train(&ds, &config("mlp", 12), &RunOptions::quiet(tmp.path().join("mlp"))).unwrap();
    assert!(
        bigru.test.metrics.weighted_f1 > mlp.test.metrics.weighted_f1 + 0.03,
        "bigru {} vs mlp {}",
        bigru.test.metrics.weighted_f1,
        mlp.test.metrics.weighted_f1
    );
}

#[test]
fn an_existing_run_is_not_overwritten_and_resume_continues_it() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ds = synthetic(&tmp.path().join("data"), 3);
    let out = tmp.path().join("run");
    let full = train(&ds, &config("bigru", 4), &RunOptions::quiet(&out)).unwrap();
    assert!(matches!(train(&ds, &config("bigru", 4), &RunOptions::quiet(&out)), Err(TrainError::RunExists(_))));

    // a two-epoch run resumed to four epochs gives the same history as four at once
    let split_out = tmp.path().join("split");
    train(&ds, &config("bigru", 2), &RunOptions::quiet(&split_out)).unwrap();
    let mut resume = RunOptions::quiet(&split_out);
    resume.resume = true;
    let resumed = train(&ds, &config("bigru", 4), &resume).unwrap();
    assert_eq!(resumed.epochs.len(), 4);
    for (a, b) in full.epochs.iter().zip(&resumed.epochs) {
        let (x, y) = (a.train.loss.unwrap(), b.train.loss.unwrap());
        assert!((x - y).abs() < 1e-4, "epoch {}: train loss {x} vs {y}", a.epoch);
        assert_eq!(a.valid.metrics.confusion, b.valid.metrics.confusion, "epoch {}", a.epoch);
    }
    // resuming with another model configuration is refused
    let mut other = config("bigru", 5);
    other.override_model_config(&serde_json::json!({"hidden": 8})).unwrap();
    assert!(matches!(train(&ds, &other, &resume), Err(TrainError::Checkpoint { .. })));
}

#[test]
fn several_seeds_give_mean_and_std() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ds = synthetic(&tmp.path().join("data"), 4);
    let mut c = config("mlp", 3);
    c.selection = MetricKind::MacroF1;
    c.training.optimizer = OptimizerKind::AdamW;
    let multi = train_seeds(&ds, &c, &[7, 8, 9], &RunOptions::quiet(tmp.path().join("runs"))).unwrap();
    assert_eq!(multi.summary.seeds, vec![7, 8, 9]);
    let f1s: Vec<f64> = multi.runs.iter().map(|r| r.test.metrics.weighted_f1).collect();
    let mean = f1s.iter().sum::<f64>() / 3.0;
    assert!((multi.summary.weighted_f1.mean - mean).abs() < 1e-12);
    assert!(multi.summary.weighted_f1.std > 0.0, "different seeds give different models");
    assert_eq!(multi.summary.per_class_f1.len(), 6);
    assert!(tmp.path().join("runs/summary.json").is_file());
    assert!(tmp.path().join("runs/seed-8/report.json").is_file());
}

#[test]
fn bad_configurations_are_errors() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ds = synthetic(&tmp.path().join("data"), 5);
    assert!(RunConfig::from_preset("transformer-xxl", None).unwrap_err().to_string().contains("bigru"));
    assert!(RunConfig::from_preset("bigru", Some("paper")).unwrap_err().to_string().contains("default"));
    let mut c = config("bigru", 1);
    assert!(c.override_model_config(&serde_json::json!({"hiden": 3})).unwrap_err().to_string().contains("hidden"));
    c.override_model_config(&serde_json::json!({"modalities": ["depth"]})).unwrap();
    let err = train(&ds, &c, &RunOptions::quiet(tmp.path().join("r1"))).unwrap_err().to_string();
    assert!(err.contains("depth"), "{err}");
    let mut c = config("bigru", 1);
    c.splits.valid = "dev".into();
    let err = train(&ds, &c, &RunOptions::quiet(tmp.path().join("r2"))).unwrap_err().to_string();
    assert!(err.contains("no split `dev`"), "{err}");
    // NaN in the features stops training with an error naming the modality and utterance
    let nan_dir = tmp.path().join("nan");
    let ds_nan = synthetic(&nan_dir, 5);
    let n = ds_nan.num_utterances();
    let mut values = vec![0.5f32; n * 16];
    values[3 * 16 + 1] = f32::NAN;
    drop(ds_nan);
    erc_data::matrix::write_f32_matrix(&nan_dir.join("features/audio.npy"), n, 16, &values).unwrap();
    let ds_nan = Dataset::open(&nan_dir).unwrap();
    let mut c = config("bigru", 1);
    c.training.batch_size = 100; // every training dialogue in one batch
    let err = train(&ds_nan, &c, &RunOptions::quiet(tmp.path().join("r3"))).unwrap_err().to_string();
    assert!(err.contains("audio") && err.contains("utterance 3") && err.contains("NaN"), "{err}");
}

/// FacialMMT on per-utterance sequences: the facial-expression head learns the auxiliary set
/// before each epoch, the model beats the majority class, and its checkpoint evaluates again
/// to the report's test numbers. A model without a face-emotion task refuses the set.
#[test]
fn facialmmt_trains_with_its_auxiliary_face_emotion_pass() {
    let _rng = serial();
    let tmp = tempfile::tempdir().unwrap();
    let synth = SynthConfig::meld_sequences(3).with_dims(&[8, 8, 8]).with_dialogues(60, 12, 16);
    synth.generate().unwrap().write(tmp.path().join("data")).unwrap();
    synth.face_emotion_set(600).unwrap().write(&tmp.path().join("faces")).unwrap();
    let ds = Dataset::open(tmp.path().join("data")).unwrap();
    let mut c = config("facialmmt", 12);
    c.training.batch_size = 4;
    c.training.lr = 1e-3;
    c.training.patience = None;
    c.override_model_config(&serde_json::json!({"width": 32, "heads": 2, "d_ff": 64, "cmt_ta_heads": 2,
        "cmt_tav_heads": 2, "cmt_d_ff": 64, "fer_hidden": 16}))
        .unwrap();
    let mut faces = erc_train::config::FaceEmotionTraining::reference(tmp.path().join("faces"));
    faces.lr = 1e-2;
    faces.batch_size = 50;
    c.face_emotions = Some(faces);
    let report = train(&ds, &c, &RunOptions::quiet(tmp.path().join("run"))).unwrap();
    let aux: Vec<f64> = report.epochs.iter().map(|e| e.face_emotions.as_ref().unwrap().accuracy).collect();
    assert!(aux[aux.len() - 1] > 0.7 && aux[aux.len() - 1] > aux[0] + 0.2, "face-emotion accuracy per epoch {aux:?}");
    let (test, majority) = (&report.test.metrics, &report.majority_baseline_test);
    eprintln!(
        "facialmmt test weighted-F1 {:.4}, majority {:.4}, face-emotion accuracy {aux:.3?}",
        test.weighted_f1, majority.weighted_f1
    );
    assert!(
        test.weighted_f1 > majority.weighted_f1 + 0.1,
        "facialmmt {} vs majority {}",
        test.weighted_f1,
        majority.weighted_f1
    );
    let ckpt = Checkpoint::open(&tmp.path().join("run/checkpoints/best")).unwrap();
    let again = evaluate_checkpoint(&ckpt, &ds, "test", BackendKind::Flex, 4, false).unwrap();
    assert!((again.metrics.weighted_f1 - test.weighted_f1).abs() < 1e-9);

    // a run resumed after its first epoch continues both optimisers: the same history
    c.training.epochs = 3;
    let full = train(&ds, &c, &RunOptions::quiet(tmp.path().join("full"))).unwrap();
    let mut first = c.clone();
    first.training.epochs = 1;
    train(&ds, &first, &RunOptions::quiet(tmp.path().join("split"))).unwrap();
    assert!(tmp.path().join("split/checkpoints/last/face_optimizer.bpk").is_file());
    let mut resume = RunOptions::quiet(tmp.path().join("split"));
    resume.resume = true;
    let resumed = train(&ds, &c, &resume).unwrap();
    for (a, b) in full.epochs.iter().zip(&resumed.epochs) {
        let (x, y) = (a.face_emotions.as_ref().unwrap().loss, b.face_emotions.as_ref().unwrap().loss);
        assert!((x - y).abs() < 1e-4, "epoch {}: face-emotion loss {x} vs {y}", a.epoch);
        let (x, y) = (a.train.loss.unwrap(), b.train.loss.unwrap());
        assert!((x - y).abs() < 1e-4, "epoch {}: train loss {x} vs {y}", a.epoch);
    }

    let mut bigru = config("bigru", 1);
    bigru.face_emotions = c.face_emotions.clone();
    let err = train(&ds, &bigru, &RunOptions::quiet(tmp.path().join("run2"))).unwrap_err().to_string();
    assert!(err.contains("no face-emotion task"), "{err}");
}
