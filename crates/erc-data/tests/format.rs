//! The on-disk format: round trip, validation errors, streaming reads.

use std::collections::BTreeMap;
use std::path::Path;

use erc_data::matrix::{create_zeroed_f32_matrix, write_f32_matrix, write_i64_vector};
use erc_data::{Batcher, DataError, Dataset, DatasetBuilder, DialogueRecord, SynthConfig};

fn device() -> burn::tensor::Device {
    erc_core::BackendKind::Flex.device().unwrap()
}

fn small_dataset(dir: &Path) {
    let mut b = DatasetBuilder::new(
        "tiny",
        vec!["a".into(), "b".into(), "c".into()],
        vec![("text".into(), 2), ("audio".into(), 3)],
    )
    .with_speakers(&["M", "F"]);
    let dialogue = |id: &str, split: &str, n: usize, base: f32| {
        let mut features = BTreeMap::new();
        features.insert("text".to_string(), (0..n * 2).map(|i| base + i as f32).collect());
        features.insert("audio".to_string(), (0..n * 3).map(|i| -(base + i as f32)).collect());
        DialogueRecord {
            id: id.into(),
            split: split.into(),
            speakers: (0..n).map(|i| if i % 2 == 0 { "M".into() } else { "F".into() }).collect(),
            labels: (0..n).map(|i| (i % 3) as i64).collect(),
            texts: None,
            features,
        }
    };
    b.add_dialogue(dialogue("d0", "train", 3, 0.0)).unwrap();
    b.add_dialogue(dialogue("d1", "train", 1, 100.0)).unwrap();
    b.add_dialogue(dialogue("d2", "valid", 2, 200.0)).unwrap();
    b.add_dialogue(dialogue("d3", "test", 4, 300.0)).unwrap();
    b.write(dir).unwrap();
}

#[test]
fn round_trip_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.num_dialogues(), 4);
    assert_eq!(ds.num_utterances(), 10);
    assert_eq!(ds.split("train").unwrap(), &[0, 1]);
    let d3 = ds.dialogue(3);
    assert_eq!((d3.start, d3.end, d3.id.as_str()), (6, 10, "d3"));
    let mut rows = Vec::new();
    ds.read_features("audio", d3.start, d3.start + 1, &mut rows).unwrap();
    assert_eq!(rows, vec![-300.0, -301.0, -302.0]);
    assert_eq!(ds.labels(0, 3), &[0, 1, 2]);
    assert_eq!(ds.speakers(0, 3), &[0, 1, 0]);
    assert_eq!(ds.class_counts(&[0, 1]), vec![2, 1, 1]);
    let spec = ds.spec();
    assert_eq!(spec.num_speakers, 2);
    assert_eq!(spec.modality_dim("audio").unwrap(), 3);
}

#[test]
fn writing_never_overwrites_a_users_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let b = SynthConfig::iemocap_like(0).with_dims(&[2, 2, 2]).with_dialogues(2, 1, 1).generate().unwrap();
    assert!(matches!(b.write(&dir), Err(DataError::WouldOverwrite { .. })));
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    // no staging directory is left behind
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn missing_directory_and_manifest_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Dataset::open(tmp.path().join("nope")).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    let err = Dataset::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("does not exist"), "{err}");
}

#[test]
fn a_missing_feature_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    std::fs::remove_file(dir.join("features/audio.npy")).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("audio.npy") && err.contains("does not exist"), "{err}");
}

#[test]
fn manifest_dimension_disagreeing_with_npy_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    // audio.npy has 3 columns: claim 4
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["modalities"][1]["dim"] = 4.into();
    std::fs::write(&path, m.to_string()).unwrap();
    match Dataset::open(&dir).unwrap_err() {
        DataError::Shape { found, expected, path } => {
            assert_eq!((found, expected), (vec![10, 3], vec![10, 4]));
            assert!(path.ends_with("features/audio.npy"));
        }
        other => panic!("expected a shape error, got {other}"),
    }
    // fewer rows than utterances
    small_dataset(&tmp.path().join("ds2"));
    write_f32_matrix(&tmp.path().join("ds2/features/text.npy"), 9, 2, &[0.0; 18]).unwrap();
    let err = Dataset::open(tmp.path().join("ds2")).unwrap_err().to_string();
    assert!(err.contains("[9, 2]") && err.contains("[10, 2]"), "{err}");
}

#[test]
fn wrong_dtype_and_bad_ids_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    // a label out of range
    write_i64_vector(&dir.join("labels.npy"), &[0, 1, 2, 0, 0, 1, 7, 0, 1, 2]).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("label 7"), "{err}");
    // an int64 file where float32 features belong
    small_dataset(&tmp.path().join("ds2"));
    write_i64_vector(&tmp.path().join("ds2/features/text.npy"), &[0; 20]).unwrap();
    let err = Dataset::open(tmp.path().join("ds2")).unwrap_err().to_string();
    assert!(err.contains("float32"), "{err}");
    // non-increasing offsets
    small_dataset(&tmp.path().join("ds3"));
    write_i64_vector(&tmp.path().join("ds3/offsets.npy"), &[0, 3, 3, 6, 10]).unwrap();
    let err = Dataset::open(tmp.path().join("ds3")).unwrap_err().to_string();
    assert!(err.contains("strictly increase"), "{err}");
}

#[test]
fn a_fortran_order_matrix_is_refused_at_open() {
    use ndarray_npy::WriteNpyExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    // [10, 2] stored column-major, as numpy saves a transposed array
    let column_major = ndarray::Array2::<f32>::zeros((2, 10)).reversed_axes();
    let file = std::fs::File::create(dir.join("features/text.npy")).unwrap();
    column_major.write_npy(file).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("Fortran"), "{err}");
}

#[test]
fn nan_in_features_is_reported_with_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    small_dataset(&dir);
    let mut values: Vec<f32> = (0..30).map(|i| i as f32).collect();
    values[7 * 3 + 2] = f32::NAN; // utterance 7 (dialogue d3), column 2
    write_f32_matrix(&dir.join("features/audio.npy"), 10, 3, &values).unwrap();
    let ds = Dataset::open(&dir).unwrap(); // opening reads no feature value
    let batcher = Batcher::new(2);
    batcher.load(&ds, &[0, 1], &device()).unwrap(); // rows 0..4 are fine
    match batcher.load(&ds, &[3], &device()).unwrap_err() {
        DataError::NonFinite { modality, utterance, column, .. } => {
            assert_eq!((modality.as_str(), utterance, column), ("audio", 7, 2));
        }
        other => panic!("expected a NaN error, got {other}"),
    }
}

fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 1024
}

/// A 32 GiB feature matrix — more than this machine's RAM — opens at once and serves a batch:
/// opening maps the file and reads its header, a batch reads only its rows.
#[test]
fn a_dataset_larger_than_ram_opens_and_batches_without_reading_whole_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (dim, per_dialogue, dialogues) = (16_384usize, 64usize, 8_192usize);
    let utterances = per_dialogue * dialogues; // 524 288 rows × 16 384 × 4 B = 32 GiB
    std::fs::create_dir(dir.join("features")).unwrap();
    create_zeroed_f32_matrix(&dir.join("features/big.npy"), utterances, dim).unwrap();
    let file_len = std::fs::metadata(dir.join("features/big.npy")).unwrap().len();
    assert!(file_len >= 32 << 30, "the matrix is 32 GiB ({file_len} bytes)");
    let offsets: Vec<i64> = (0..=dialogues).map(|d| (d * per_dialogue) as i64).collect();
    write_i64_vector(&dir.join("offsets.npy"), &offsets).unwrap();
    write_i64_vector(&dir.join("speakers.npy"), &vec![0; utterances]).unwrap();
    write_i64_vector(&dir.join("labels.npy"), &vec![1; utterances]).unwrap();
    let manifest = serde_json::json!({
        "format": "erc-dataset", "version": 1, "name": "big", "source": "test",
        "classes": ["a", "b"],
        "modalities": [{"name": "big", "dim": dim, "file": "features/big.npy"}],
        "speakers": ["s"],
        "dialogue_ids": (0..dialogues).map(|d| format!("d{d}")).collect::<Vec<_>>(),
        "num_utterances": utterances,
        "splits": {"train": (0..dialogues).collect::<Vec<_>>()},
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();

    let before = resident_bytes();
    let ds = Dataset::open(dir).unwrap();
    let after_open = resident_bytes();
    let batch = Batcher::new(4).load(&ds, &[0, 4_000, 8_000, 8_191], &device()).unwrap();
    let after_batch = resident_bytes();
    assert_eq!(batch.modality("big").unwrap().dims(), [4, 64, dim]);
    // the open maps 32 GiB but touches almost nothing; the batch reads 4 × 64 rows (16 MiB)
    // plus its tensor copy
    assert!(after_open.saturating_sub(before) < 64 << 20, "open grew RSS by {} bytes", after_open - before);
    assert!(after_batch.saturating_sub(before) < 256 << 20, "batch grew RSS by {} bytes", after_batch - before);
}

fn skeleton() -> DatasetBuilder {
    let mut b = DatasetBuilder::new("stream", vec!["a".into(), "b".into()], Vec::new());
    for (id, n) in [("d0", 3), ("d1", 2)] {
        b.add_dialogue(DialogueRecord {
            id: id.into(),
            split: "train".into(),
            speakers: vec!["A".into(); n],
            labels: vec![0; n],
            texts: None,
            features: BTreeMap::new(),
        })
        .unwrap();
    }
    b
}

/// A modality streamed in blocks reads back exactly, with the texts in order.
#[test]
fn streamed_modality_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    skeleton()
        .write_streaming(&out, "text", 2, |sink| {
            sink.push(&[0.0, 1.0, 2.0, 3.0], &["u0", "u1"])?;
            assert_eq!(sink.remaining(), 3);
            sink.push(&[4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &["u2", "u3", "\"quoted\""])
        })
        .unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.manifest().modalities[0].name, "text");
    assert!(ds.manifest().has_text);
    let b = Batcher::new(2).load(&ds, &[0, 1], &device()).unwrap();
    let values: Vec<f32> = b.modality("text").unwrap().into_data().iter::<f32>().collect();
    // [2 dialogues, T = 3, 2]: d1 is padded with a zero row
    assert_eq!(values, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 0.0, 0.0]);
    let texts = std::fs::read_to_string(out.join("text.jsonl")).unwrap();
    assert_eq!(texts.lines().collect::<Vec<_>>(), vec!["\"u0\"", "\"u1\"", "\"u2\"", "\"u3\"", "\"\\\"quoted\\\"\""]);
}

/// A stream that fails, or stops short, leaves nothing behind: no dataset, no staging directory.
#[test]
fn a_failed_or_short_stream_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let err = skeleton()
        .write_streaming(&out, "text", 2, |sink| {
            sink.push(&[0.0, 1.0], &["u0"])?;
            Err(DataError::NotFound("the encoder stopped".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("the encoder stopped"));
    let short = skeleton().write_streaming(&out, "text", 2, |sink| sink.push(&[0.0, 1.0], &["u0"])).unwrap_err();
    assert!(short.to_string().contains("1 of 5 rows"), "{short}");
    let nan = skeleton().write_streaming(&out, "text", 2, |sink| sink.push(&[0.0, f32::NAN], &["u0"])).unwrap_err();
    assert!(nan.to_string().contains("non-finite"), "{nan}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "left behind: {:?}",
        std::fs::read_dir(tmp.path()).unwrap().collect::<Vec<_>>()
    );
}
