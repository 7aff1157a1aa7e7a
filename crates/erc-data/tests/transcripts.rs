//! JSONL transcript import, on the real IEMOCAP and MELD transcripts in ../shared.

use std::path::PathBuf;

use erc_core::PAD_LABEL;
use erc_data::transcripts::{IEMOCAP_CLASSES, MELD_CLASSES};
use erc_data::{DataError, Dataset, ImportOptions, import_jsonl};

fn shared_data(file: &str) -> PathBuf {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = base.join("data").join(file);
    assert!(
        path.is_file(),
        "{} is missing: the real transcripts live in ../shared/data (set ERC_SHARED_DIR)",
        path.display()
    );
    path
}

#[test]
fn iemocap_transcripts_import_with_standard_classes_and_splits() {
    let builder = import_jsonl(&shared_data("iemocap.jsonl"), &ImportOptions::default()).unwrap();
    let m = builder.manifest();
    assert_eq!(m.classes, IEMOCAP_CLASSES.map(String::from).to_vec());
    assert_eq!(m.dialogue_ids.len(), 151);
    assert_eq!(m.num_utterances, 7433);
    let sizes: Vec<usize> = ["train", "valid", "test"].iter().map(|s| m.splits[*s].len()).collect();
    assert_eq!(sizes, vec![108, 12, 31], "the file's own valid split is kept, nothing held out");
    assert_eq!(m.speakers, vec!["M", "F"]);
    assert!(m.has_text && m.modalities.is_empty());

    let tmp = tempfile::tempdir().unwrap();
    builder.write(tmp.path().join("iemocap")).unwrap();
    let ds = Dataset::open(tmp.path().join("iemocap")).unwrap();
    let texts = ds.texts().unwrap();
    assert_eq!(texts[0], "Excuse me.");
    let first = ds.dialogue(0);
    assert_eq!(first.id, "Ses01F_impro01");
    assert_eq!(ds.labels(first.start, first.start + 2), &[2, 5]); // neu, fru
    let test = ds.split("test").unwrap();
    let counts = ds.class_counts(test);
    assert_eq!(counts, vec![144, 245, 384, 170, 299, 381], "the spec's test support");
}

#[test]
fn meld_transcripts_import_with_standard_classes() {
    let builder = import_jsonl(&shared_data("meld.jsonl"), &ImportOptions::default()).unwrap();
    let m = builder.manifest();
    assert_eq!(m.classes, MELD_CLASSES.map(String::from).to_vec());
    assert_eq!((m.dialogue_ids.len(), m.num_utterances), (1432, 13708));
    let sizes: Vec<usize> = ["train", "valid", "test"].iter().map(|s| m.splits[*s].len()).collect();
    assert_eq!(sizes, vec![1038, 114, 280]);
    let mut speakers = m.speakers.clone();
    speakers.sort();
    assert_eq!(speakers, (0..9).map(|i| format!("S{i}")).collect::<Vec<_>>(), "MELD's 9 speaker slots");
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn unknown_labels_bad_lines_and_missing_splits_are_errors_with_line_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let good = r#"{"id": "a", "split": "train", "utterances": [{"speaker": "x", "text": "hi", "emotion": "joy"}]}"#;
    let unknown = r#"{"id": "b", "split": "test", "utterances": [{"speaker": "y", "text": "oh", "emotion": "smug"}]}"#;
    let path = write(tmp.path(), "u.jsonl", &format!("{good}\n{unknown}\n"));
    let options = ImportOptions { classes: Some(MELD_CLASSES.map(String::from).to_vec()), ..Default::default() };
    match import_jsonl(&path, &options).unwrap_err() {
        DataError::Input { line, message, .. } => {
            assert_eq!(line, 2);
            assert!(message.contains("unknown emotion `smug`"), "{message}");
        }
        other => panic!("{other}"),
    }
    let path = write(tmp.path(), "bad.jsonl", &format!("{good}\n{{not json\n"));
    let err = import_jsonl(&path, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Input { line: 2, .. }), "{err}");
    let no_split = r#"{"id": "c", "utterances": [{"speaker": "x", "text": "hi", "emotion": "joy"}]}"#;
    let path = write(tmp.path(), "ns.jsonl", &format!("{no_split}\n"));
    let err = import_jsonl(&path, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no `split`"), "{err}");
    let empty = r#"{"id": "e", "split": "train", "utterances": []}"#;
    let path = write(tmp.path(), "empty.jsonl", &format!("{empty}\n"));
    let err = import_jsonl(&path, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no utterance"), "{err}");
    let one = r#"{"id": "o", "split": "train", "utterances": [{"speaker": "x", "text": "hi", "emotion": "joy"}]}"#;
    let path = write(tmp.path(), "one.jsonl", &format!("{one}\n"));
    let err = import_jsonl(&path, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("fewer than 2 training dialogues"), "{err}");
    let err = import_jsonl(&tmp.path().join("absent.jsonl"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn missing_labels_become_padding_and_a_valid_split_is_held_out() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"id": "d{i}", "split": "{}", "utterances": [{{"speaker": "x", "text": "t", "emotion": "neutral"}}, {{"speaker": "y", "text": "u"}}]}}"#,
                if i < 15 { "train" } else { "test" }
            )
        })
        .collect();
    let path = write(tmp.path(), "t.jsonl", &(lines.join("\n") + "\n"));
    let options = ImportOptions { valid_share: 0.2, seed: 5, ..Default::default() };
    let builder = import_jsonl(&path, &options).unwrap();
    let m = builder.manifest();
    assert_eq!((m.splits["train"].len(), m.splits["valid"].len(), m.splits["test"].len()), (12, 3, 5));
    let again = import_jsonl(&path, &options).unwrap().manifest();
    assert_eq!(m.splits, again.splits, "the hold-out is seeded");
    builder.write(tmp.path().join("ds")).unwrap();
    let ds = Dataset::open(tmp.path().join("ds")).unwrap();
    assert_eq!(ds.labels(0, 2), &[0, PAD_LABEL]);
}
