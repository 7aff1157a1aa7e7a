//! The `erc` binary: every subcommand, and its errors (messages and exit codes, no panics).

use std::path::Path;
use std::process::Output;

mod common;

use common::{assert_clean_failure, erc, text};

#[test]
fn synth_info_train_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = erc(
        &["synth", "--out", "data", "--shape", "meld", "--dialogues", "30,8,8", "--dims", "8,8,8", "--seed", "2"],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(&["info", "data"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("synthetic-meld") && t.contains("text 8") && t.contains("neutral"), "{t}");
    let o = erc(&["info", "data", "--json"], dir);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["splits"]["train"]["dialogues"], 30);

    let o = erc(
        &["train", "--dataset", "data", "--epochs", "3", "--batch-size", "8", "--out", "run", "--no-progress"],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("selected epoch") && t.contains("majority-class baseline") && t.contains("confusion"), "{t}");
    assert!(dir.join("run/report.json").is_file());

    let o = erc(&["eval", "run/checkpoints/best", "data", "--split", "valid", "--json"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(result["metrics"]["weighted_f1"].as_f64().unwrap() >= 0.0);

    // the same --out again is refused, nothing is overwritten
    let before = std::fs::read(dir.join("run/report.json")).unwrap();
    let o = erc(&["train", "--dataset", "data", "--epochs", "1", "--out", "run", "--no-progress"], dir);
    assert_clean_failure(&o, "--resume");
    assert_eq!(std::fs::read(dir.join("run/report.json")).unwrap(), before);
    // ...unless resumed, to more epochs
    let o = erc(
        &[
            "train",
            "--dataset",
            "data",
            "--epochs",
            "4",
            "--batch-size",
            "8",
            "--out",
            "run",
            "--resume",
            "--no-progress",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run/report.json")).unwrap()).unwrap();
    assert_eq!(report["epochs"].as_array().unwrap().len(), 4);
}

#[test]
fn train_without_a_dataset_generates_synthetic_data_and_seeds_report_mean_std() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = erc(
        &[
            "train",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--seeds",
            "2",
            "--out",
            "multi",
            "--no-progress",
            "--model-config",
            r#"{"hidden": 16}"#,
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("generating synthetic-iemocap") && t.contains("±"), "{t}");
    assert!(dir.join("multi/data/manifest.json").is_file());
    assert!(dir.join("multi/summary.json").is_file());
    assert!(dir.join("multi/seed-1/report.json").is_file());
}

#[test]
fn import_and_models() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("t.jsonl"),
        "{\"id\": \"a\", \"split\": \"train\", \"utterances\": [{\"speaker\": \"M\", \"text\": \"hi\", \"emotion\": \"hap\"}]}\n\
         {\"id\": \"b\", \"split\": \"train\", \"utterances\": [{\"speaker\": \"F\", \"text\": \"no\", \"emotion\": \"sad\"}]}\n\
         {\"id\": \"c\", \"split\": \"test\", \"utterances\": [{\"speaker\": \"F\", \"text\": \"ok\", \"emotion\": \"neu\"}]}\n",
    )
    .unwrap();
    let o = erc(&["import", "--transcripts", "t.jsonl", "--out", "ds"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(&["info", "ds"], dir);
    assert!(text(&o).contains("modalities: none"), "{}", text(&o));
    let o = erc(&["models"], dir);
    assert!(text(&o).contains("bigru") && text(&o).contains("mlp"));
    // a skeleton has no features to train on
    let o = erc(&["train", "--dataset", "ds", "--out", "r", "--no-progress"], dir);
    assert_clean_failure(&o, "no modality selected");
}

#[test]
fn errors_are_messages_with_a_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_clean_failure(&erc(&["info", "missing"], dir), "does not exist");
    assert_clean_failure(&erc(&["train", "--dataset", "missing", "--no-progress"], dir), "does not exist");
    assert_clean_failure(&erc(&["eval", "nope", "missing"], dir), "meta.json");
    assert_clean_failure(&erc(&["train", "--backend", "tpu"], dir), "unknown backend");
    if !erc_core::BackendKind::Wgpu.is_compiled() {
        assert_clean_failure(&erc(&["train", "--backend", "wgpu", "--out", "w"], dir), "--features wgpu");
        assert!(!dir.join("w").exists(), "nothing is written before the backend check");
    }
    assert_clean_failure(&erc(&["train", "--model", "gpt", "--out", "g"], dir), "unknown model `gpt`");
    std::fs::write(dir.join("bad.jsonl"), "{\"id\": \"a\", \"split\": \"train\", \"utterances\": [{\"speaker\": \"x\", \"text\": \"t\", \"emotion\": \"meh\"}]}\n").unwrap();
    assert_clean_failure(
        &erc(&["import", "--transcripts", "bad.jsonl", "--out", "b", "--classes", "hap,sad"], dir),
        "bad.jsonl:1: utterance 0 of dialogue `a` has unknown emotion `meh`",
    );
    // NaN in features
    let o = erc(&["synth", "--out", "data", "--dialogues", "4,2,2", "--dims", "4,4,4"], dir);
    assert!(o.status.success());
    let info: serde_json::Value = serde_json::from_slice(&erc(&["info", "data", "--json"], dir).stdout).unwrap();
    let n = info["utterances"].as_u64().unwrap() as usize;
    let mut values = vec![0.1f32; n * 4];
    values[5] = f32::NAN;
    erc_data::matrix::write_f32_matrix(&dir.join("data/features/text.npy"), n, 4, &values).unwrap();
    assert_clean_failure(
        &erc(
            &["train", "--dataset", "data", "--epochs", "1", "--batch-size", "64", "--out", "n", "--no-progress"],
            dir,
        ),
        "non-finite value (NaN)",
    );
    // a manifest whose dimensions disagree with an .npy
    let manifest = dir.join("data/manifest.json");
    let m = std::fs::read_to_string(&manifest).unwrap().replacen("\"dim\": 4", "\"dim\": 5", 1);
    std::fs::write(&manifest, m).unwrap();
    assert_clean_failure(&erc(&["info", "data"], dir), "disagrees with the manifest");
}

fn fixture(model: &str, case: &str) -> std::path::PathBuf {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    base.join("fixtures").join(model).join(format!("{case}.safetensors"))
}

fn mm_dfn_fixture(case: &str) -> std::path::PathBuf {
    fixture("mm-dfn", case)
}

#[test]
fn parity_prints_one_json_line_and_fails_on_a_tampered_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = mm_dfn_fixture("iemocap_small");
    let o = erc(&["parity", fixture.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["model"], "mm-dfn");
    assert_eq!(line["case"], "iemocap_small");
    assert_eq!(line["pass"], true);
    assert!(line["max_abs_output_err"].as_f64().unwrap() < 1e-4);
    assert!(line["max_grad_err"].as_f64().unwrap() < 1e-3);

    // shift one reference log-probability by 1e-3: now out of tolerance
    use erc_core::import::{HostTensor, TensorFile};
    let mut file = TensorFile::read(&fixture).unwrap();
    let Some(HostTensor::Float { shape, mut values }) = file.remove("output.log_prob") else { panic!() };
    values[5] += 1e-3;
    file.insert("output.log_prob", HostTensor::Float { shape, values });
    let tampered = tmp.path().join("tampered.safetensors");
    std::fs::write(&tampered, file.to_bytes()).unwrap();
    std::fs::copy(fixture.with_extension("json"), tmp.path().join("tampered.json")).unwrap();
    let o = erc(&["parity", "tampered.safetensors"], tmp.path());
    assert_clean_failure(&o, "output.log_prob");
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["pass"], false);

    assert_clean_failure(&erc(&["parity", "missing.safetensors"], tmp.path()), "missing.safetensors");
}

#[test]
fn mm_dfn_trains_from_its_preset_and_lists_in_models() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = erc(&["synth", "--out", "data", "--shape", "meld", "--dialogues", "12,4,4", "--dims", "8,6,4"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(&["models"], dir);
    assert!(text(&o).contains("mm-dfn") && text(&o).contains("iemocap, meld"), "{}", text(&o));
    let o = erc(
        &[
            "train",
            "--dataset",
            "data",
            "--model",
            "mm-dfn",
            "--preset",
            "meld",
            "--model-config",
            r#"{"gdf_layers": 2, "modalities": ["al"]}"#,
            "--epochs",
            "2",
            "--out",
            "run",
            "--no-progress",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/report.json")).unwrap()).unwrap();
    assert_eq!(report["config"]["model"], "mm-dfn");
    assert_eq!(report["epochs"].as_array().unwrap().len(), 2);
    assert!(report["test"]["metrics"]["accuracy"].as_f64().unwrap() > 0.0);
    // the saved checkpoint loads and scores the same test split
    let o = erc(&["eval", "run/checkpoints/best", "data", "--json"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (eval["metrics"]["accuracy"].as_f64(), report["test"]["metrics"]["accuracy"].as_f64());
    assert!(a.is_some() && (a.unwrap() - b.unwrap()).abs() < 1e-9, "{eval} vs {}", report["test"]);
    // a class-weight list that does not fit the data is a clean error
    let o = erc(
        &["train", "--dataset", "data", "--model", "mm-dfn", "--preset", "iemocap", "--epochs", "1", "--out", "bad"],
        dir,
    );
    assert_clean_failure(&o, "class weights");
}

#[test]
fn multiemo_trains_from_its_preset_and_its_fixtures_pass_parity() {
    let small = r#"{"d_model": 8, "heads": 2, "d_ff": 16, "fusion_layers": 1, "d_mlp": 8,
        "context": {"text": "none", "audio": "forward", "visual": "bidirectional"},
        "loss": {"temperature": 1.4, "focus": 2.0, "sample_weight": 1.2,
                 "swfc_weight": 0.3, "hgr_weight": 0.3, "ce_weight": 0.4}}"#;
    // d_model not a multiple of heads is a clean error
    let bad = (small.replace(r#""heads": 2"#, r#""heads": 3"#), "multiple of heads");
    check_paper_model("multiemo", &["meld_small", "swfc_loss", "softhgr_loss"], small, bad);
}

#[test]
fn maln_trains_from_its_preset_and_its_fixtures_pass_parity() {
    let small = r#"{"hidden": 8, "topic_dim": 4, "sclm_ffn": 8, "sclm_max_positions": 64, "disc_hidden": 4}"#;
    // a position table too short for the data is a clean error
    let bad = (small.replace(r#""sclm_max_positions": 64"#, r#""sclm_max_positions": 3"#), "sclm_max_positions");
    check_paper_model("maln", &["iemocap_small", "iemocap_small_specific_fusion"], small, bad);
}

/// A paper model through the CLI: `erc parity` passes its fixture `cases`; it trains at its
/// `meld` preset with the `small` configuration patch on synthetic MELD-like data, and the best
/// checkpoint re-evaluates to the report's test accuracy; the `bad` patch fails cleanly with a
/// message containing the given text.
fn check_paper_model(model: &str, cases: &[&str], small: &str, bad: (String, &str)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for case in cases {
        let o = erc(&["parity", fixture(model, case).to_str().unwrap()], dir);
        assert!(o.status.success(), "{case}: {}", text(&o));
        let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((line["model"].as_str(), line["pass"].as_bool()), (Some(model), Some(true)), "{line}");
    }
    let o = erc(&["synth", "--out", "data", "--shape", "meld", "--dialogues", "12,4,4", "--dims", "8,6,4"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = train_meld_preset(dir, model, small, "run");
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/report.json")).unwrap()).unwrap();
    assert_eq!(report["config"]["model"], model);
    assert_eq!(report["epochs"].as_array().unwrap().len(), 2);
    let o = erc(&["eval", "run/checkpoints/best", "data", "--json"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (eval["metrics"]["accuracy"].as_f64(), report["test"]["metrics"]["accuracy"].as_f64());
    assert!(a.is_some() && (a.unwrap() - b.unwrap()).abs() < 1e-9, "{eval} vs {}", report["test"]);
    let o = train_meld_preset(dir, model, &bad.0, "bad");
    assert_clean_failure(&o, bad.1);
}

/// `erc train` of `model` at its `meld` preset with a `--model-config` patch: 2 epochs of
/// 4 dialogues on `dir/data`, into `dir/out`.
fn train_meld_preset(dir: &Path, model: &str, config: &str, out: &str) -> Output {
    erc(
        &[
            "train",
            "--dataset",
            "data",
            "--model",
            model,
            "--preset",
            "meld",
            "--model-config",
            config,
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--out",
            out,
            "--no-progress",
        ],
        dir,
    )
}

/// FacialMMT through the CLI: parity on its fixture; `erc synth --sequences` with a matching
/// face-emotion set; training at the `small` preset (shrunk) with the auxiliary set; the best
/// checkpoint re-evaluates to the report; a dataset without sequences is a clean error.
#[test]
fn facialmmt_passes_parity_and_trains_on_sequences_with_face_emotions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = erc(&["parity", fixture("facialmmt", "meld_small").to_str().unwrap()], dir);
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((line["model"].as_str(), line["pass"].as_bool()), (Some("facialmmt"), Some(true)), "{line}");
    let o = erc(
        &[
            "synth",
            "--out",
            "seq",
            "--sequences",
            "--dialogues",
            "12,4,4",
            "--dims",
            "8,6,4",
            "--face-emotions",
            "faces",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let small = r#"{"width": 16, "heads": 2, "d_ff": 32, "cmt_ta_heads": 2, "cmt_tav_heads": 2, "cmt_d_ff": 32, "fer_hidden": 8}"#;
    let train = |data: &str, out: &str| {
        erc(
            &[
                "train",
                "--dataset",
                data,
                "--model",
                "facialmmt",
                "--preset",
                "small",
                "--model-config",
                small,
                "--epochs",
                "2",
                "--face-emotions",
                "faces",
                "--out",
                out,
                "--no-progress",
            ],
            dir,
        )
    };
    let o = train("seq", "run");
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/report.json")).unwrap()).unwrap();
    assert!(report["epochs"][1]["face_emotions"]["accuracy"].as_f64().is_some(), "{}", report["epochs"][1]);
    let o = erc(&["eval", "run/checkpoints/best", "seq", "--json"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (eval["metrics"]["accuracy"].as_f64(), report["test"]["metrics"]["accuracy"].as_f64());
    assert!(a.is_some() && (a.unwrap() - b.unwrap()).abs() < 1e-9, "{eval} vs {}", report["test"]);
    // vector features instead of sequences
    let o = erc(&["synth", "--out", "flat", "--shape", "meld", "--dialogues", "4,2,2", "--dims", "8,6,4"], dir);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean_failure(&train("flat", "bad"), "text_tokens");
}
