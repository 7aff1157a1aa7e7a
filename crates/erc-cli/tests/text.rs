//! From raw transcripts to emotions: `erc featurize` (the all-MiniLM-L6-v2 encoder from
//! ../shared), training a text-only model, and `erc predict` on new dialogues.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::{assert_clean_failure, erc, text};

fn encoder() -> String {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = base.join("models/all-MiniLM-L6-v2");
    assert!(dir.is_dir(), "{} is missing: the encoder lives in ../shared (set ERC_SHARED_DIR)", dir.display());
    dir.to_string_lossy().into_owned()
}

const LINES: [(&str, &str); 4] = [
    ("Oh my God, this is amazing!", "joy"),
    ("I can't believe you did that to me.", "anger"),
    ("Okay.", "neutral"),
    ("What? Really?", "surprise"),
];

/// A small labelled transcript file: `n` dialogues per split of 2–4 utterances between two
/// speakers, with MELD's labels.
fn transcripts(dir: &Path, per_split: usize) -> PathBuf {
    let mut out = String::new();
    for (s, split) in ["train", "valid", "test"].iter().enumerate() {
        for d in 0..per_split {
            let n = 2 + (d + s) % 3;
            let utterances: Vec<String> = (0..n)
                .map(|u| {
                    let (t, e) = LINES[(d + u) % LINES.len()];
                    format!(r#"{{"speaker": "{}", "text": "{t}", "emotion": "{e}"}}"#, ["Ross", "Rachel"][u % 2])
                })
                .collect();
            out.push_str(&format!(
                r#"{{"id": "{split}{d}", "split": "{split}", "utterances": [{}]}}"#,
                utterances.join(", ")
            ));
            out.push('\n');
        }
    }
    let path = dir.join("talk.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn featurize_train_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    transcripts(dir, 8);
    let enc = encoder();

    let o = erc(&["featurize", "--encoder", &enc, "--transcripts", "talk.jsonl", "--out", "ds", "--no-progress"], dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("text 384-d"), "{}", text(&o));
    let o = erc(&["info", "ds", "--json"], dir);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["modalities"][0]["name"], "text");
    assert_eq!(info["modalities"][0]["dim"], 384);
    assert_eq!(info["has_text"], true);
    assert_eq!(info["splits"]["test"]["dialogues"], 8);
    // texts are stored in dataset order, one JSON string per utterance
    let stored = std::fs::read_to_string(dir.join("ds/text.jsonl")).unwrap();
    assert_eq!(stored.lines().next().unwrap(), format!("{:?}", LINES[0].0));
    assert!(!dir.read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("partial")));

    // nothing is overwritten
    let before = std::fs::read(dir.join("ds/manifest.json")).unwrap();
    let o = erc(&["featurize", "--encoder", &enc, "--transcripts", "talk.jsonl", "--out", "ds", "--no-progress"], dir);
    assert_clean_failure(&o, "ds");
    assert_eq!(std::fs::read(dir.join("ds/manifest.json")).unwrap(), before);

    // the reference model and MM-DFN (text-only preset) train on it
    let o =
        erc(&["train", "--dataset", "ds", "--epochs", "2", "--batch-size", "4", "--out", "run", "--no-progress"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(
        &[
            "train",
            "--dataset",
            "ds",
            "--model",
            "mm-dfn",
            "--preset",
            "meld-text",
            "--model-config",
            r#"{"gdf_layers": 2, "encoder_hidden": 16, "graph_hidden": 16}"#,
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            "run-mmdfn",
            "--no-progress",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));

    // new dialogues: one utterance, an unknown speaker, empty text, no labels, emoji
    let new = concat!(
        r#"{"id": "a", "utterances": [{"speaker": "Ross", "text": "Hi."}]}"#,
        "\n",
        r#"{"id": "b", "utterances": [{"speaker": "Gunther", "text": ""}, {"speaker": "Rachel", "text": "no way 😍"}, {"speaker": "Joey", "text": "How you doin'?", "emotion": "joy"}]}"#,
        "\n",
    );
    std::fs::write(dir.join("new.jsonl"), new).unwrap();
    for checkpoint in ["run/checkpoints/best", "run-mmdfn/checkpoints/best"] {
        let o = erc(&["predict", "--checkpoint", checkpoint, "--encoder", &enc, "--input", "new.jsonl"], dir);
        assert!(o.status.success(), "{}", text(&o));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(o.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], "a");
        assert_eq!(lines[1]["utterances"].as_array().unwrap().len(), 3);
        for line in &lines {
            for u in line["utterances"].as_array().unwrap() {
                let probs = u["probabilities"].as_object().unwrap();
                assert_eq!(probs.len(), 7);
                let sum: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
                assert!((sum - 1.0).abs() < 1e-4, "{sum}");
                let best = probs.iter().max_by(|a, b| a.1.as_f64().partial_cmp(&b.1.as_f64()).unwrap()).unwrap().0;
                assert_eq!(u["predicted"].as_str().unwrap(), best);
            }
        }
        assert_eq!(lines[1]["utterances"][2]["label"], "joy");
        assert!(text(&o).contains("accuracy on the 1 labelled utterances"), "{}", text(&o));
    }

    // standard input works the same
    let mut child = Command::new(env!("CARGO_BIN_EXE_erc"))
        .args(["predict", "--checkpoint", "run/checkpoints/best", "--encoder", &enc])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(new.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
}

#[test]
fn featurize_and_predict_errors_are_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    transcripts(dir, 2);
    let enc = encoder();

    let o = erc(&["featurize", "--encoder", "no-such-dir", "--transcripts", "talk.jsonl", "--out", "ds"], dir);
    assert_clean_failure(&o, "no-such-dir");
    assert!(!dir.join("ds").exists());
    let o = erc(&["featurize", "--encoder", &enc, "--transcripts", "missing.jsonl", "--out", "ds"], dir);
    assert_clean_failure(&o, "missing.jsonl");
    assert!(!dir.join("ds").exists());
    std::fs::write(dir.join("bad.jsonl"), "{\"id\": \"x\", \"split\": \"train\", \"utterances\": [{\"speaker\": \"A\", \"text\": \"hi\", \"emotion\": \"bored\"}]}\n").unwrap();
    let o = erc(
        &["featurize", "--encoder", &enc, "--transcripts", "bad.jsonl", "--out", "ds", "--classes", "joy,anger"],
        dir,
    );
    assert_clean_failure(&o, "unknown emotion `bored`");
    assert!(!dir.join("ds").exists());

    // a checkpoint trained on audio and video too cannot be fed by a text encoder
    let o = erc(&["synth", "--out", "syn", "--shape", "meld", "--dialogues", "6,2,2", "--dims", "8,8,8"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(&["train", "--dataset", "syn", "--epochs", "1", "--out", "run", "--no-progress"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = erc(&["predict", "--checkpoint", "run/checkpoints/best", "--encoder", &enc, "--input", "talk.jsonl"], dir);
    assert_clean_failure(&o, "text features only");
    let o = erc(&["predict", "--checkpoint", "nowhere", "--encoder", &enc, "--input", "talk.jsonl"], dir);
    assert_clean_failure(&o, "meta.json");
}

/// `erc parity` takes the sentence-encoder fixture too, with the encoder directory.
#[test]
fn parity_checks_the_encoder_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let enc = encoder();
    let fixture = PathBuf::from(&enc).join("../../fixtures/minilm/embeddings.safetensors");
    let fixture = fixture.to_string_lossy().into_owned();
    let o = erc(&["parity", &fixture, "--encoder", &enc], tmp.path());
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["pass"], true);
    assert_eq!(line["sentences"], 200);
    assert_eq!(line["token_mismatches"].as_array().unwrap().len(), 0);
    let o = erc(&["parity", &fixture], tmp.path());
    assert_clean_failure(&o, "--encoder");
}
