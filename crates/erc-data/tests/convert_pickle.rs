//! `datasets/convert_pickle.py` on small pickles written in each distributed layout, read
//! back through erc-data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use erc_data::Dataset;

/// Writes one small pickle per layout into the directory given as argv[1].
const MAKE_PICKLES: &str = r#"
import os, pickle, sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
def feats(vids, lens, dim, base):
    return {v: (base + 1000 * i + np.arange(lens[v] * dim, dtype=np.float64).reshape(lens[v], dim)) for i, v in enumerate(vids)}

# DialogueRNN IEMOCAP 9-tuple: 4 train (a set), 2 test
vids = ["Ses01_a", "Ses01_b", "Ses02_a", "Ses02_b", "Ses05_a", "Ses05_b"]
lens = dict(zip(vids, [3, 2, 4, 1, 2, 3]))
ids = {v: [f"{v}_{i}" for i in range(lens[v])] for v in vids}
spk = {v: ["M" if i % 2 == 0 else "F" for i in range(lens[v])] for v in vids}
lab = {v: [(i + k) % 6 for i in range(lens[v])] for k, v in enumerate(vids)}
sent = {v: [f"{v} says {i}" for i in range(lens[v])] for v in vids}
iem = (ids, spk, lab, feats(vids, lens, 4, 0.0), feats(vids, lens, 5, 0.5), feats(vids, lens, 3, -1.0), sent, set(vids[:4]), set(vids[4:]))
pickle.dump(iem, open(os.path.join(out, "IEMOCAP_features.pkl"), "wb"), protocol=2)

# MMGCN MELD 10-tuple with 9-slot one-hot speakers; ids are ints
mv = [0, 1, 2, 1000, 1001]
mlens = dict(zip(mv, [2, 3, 1, 2, 2]))
onehot = lambda s: [1 if j == s else 0 for j in range(9)]
mspk = {v: [onehot((i + v) % 3) for i in range(mlens[v])] for v in mv}
mlab = {v: [(i * 3 + v) % 7 for i in range(mlens[v])] for v in mv}
msent = {v: [f"m{v} {i}" for i in range(mlens[v])] for v in mv}
meld = ({v: list(range(mlens[v])) for v in mv}, mspk, mlab, feats(mv, mlens, 6, 0.0), feats(mv, mlens, 3, 0.0), feats(mv, mlens, 2, 0.0), msent, mv[:3], mv[3:], None)
pickle.dump(meld, open(os.path.join(out, "MELD_features_raw1.pkl"), "wb"))

# COSMIC IEMOCAP (10 items, train/test/valid) with 4 RoBERTa layers: layer k = base + k
def layers(vids, lens, dim):
    base = feats(vids, lens, dim, 0.0)
    return [{v: [row + k for row in base[v]] for v in vids} for k in range(4)]
r = layers(vids, lens, 8)
cosmic = [spk, lab, r[0], r[1], r[2], r[3], sent, vids[:3], vids[4:], vids[3:4]]
pickle.dump(cosmic, open(os.path.join(out, "iemocap_features_roberta.pkl"), "wb"))

# COSMIC MELD (11 items: emotion and sentiment labels)
mr = layers(mv, mlens, 8)
cosmic_meld = [mspk, mlab, {v: [0] * mlens[v] for v in mv}, mr[0], mr[1], mr[2], mr[3], msent, mv[:2], mv[3:], mv[2:3]]
pickle.dump(cosmic_meld, open(os.path.join(out, "meld_features_roberta.pkl"), "wb"))

# MultiEMO: Speakers.pkl (DialogueRNN 9-tuple) + per-modality dicts
os.makedirs(os.path.join(out, "multiemo"))
pickle.dump(iem, open(os.path.join(out, "multiemo", "Speakers.pkl"), "wb"))
for name, dim in (("Text", 7), ("Audio", 5), ("Visual", 9)):
    pickle.dump(feats(vids, lens, dim, 2.0), open(os.path.join(out, "multiemo", f"{name}Features.pkl"), "wb"))

# a broken one: a 3-tuple
pickle.dump((1, 2, 3), open(os.path.join(out, "broken.pkl"), "wb"))
"#;

fn has_numpy(python: &Path) -> bool {
    Command::new(python).args(["-c", "import numpy"]).output().is_ok_and(|o| o.status.success())
}

/// A Python 3 with numpy: `ERC_PYTHON`, `python3`, or a private venv under the target dir.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("ERC_PYTHON") {
            return PathBuf::from(p);
        }
        let system = PathBuf::from("python3");
        if has_numpy(&system) {
            return system;
        }
        let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pyenv-numpy");
        let venv_python = venv.join("bin/python");
        if !has_numpy(&venv_python) {
            let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
            assert!(made.is_ok_and(|s| s.success()), "python3 -m venv failed: install python3 (with venv) and numpy");
            let pip = Command::new(&venv_python).args(["-m", "pip", "install", "--quiet", "numpy"]).status();
            assert!(pip.is_ok_and(|s| s.success()), "pip install numpy failed; install numpy or set ERC_PYTHON");
        }
        venv_python
    })
}

fn converter() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/convert_pickle.py")
}

fn pickles() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(python()).args(["-c", MAKE_PICKLES]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "making pickles failed: {}", String::from_utf8_lossy(&out.stderr));
        dir
    })
    .path()
}

fn convert(format: &str, input: &str, extra: &[&str]) -> (tempfile::TempDir, Result<Dataset, String>) {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("ds");
    let result = Command::new(python())
        .arg(converter())
        .args(["--format", format, "--input"])
        .arg(pickles().join(input))
        .arg("--out")
        .arg(&target)
        .args(extra)
        .output()
        .unwrap();
    if !result.status.success() {
        return (out, Err(String::from_utf8_lossy(&result.stderr).into_owned()));
    }
    let ds = Dataset::open(&target).map_err(|e| e.to_string());
    (out, ds)
}

fn row(ds: &Dataset, modality: &str, utterance: usize) -> Vec<f32> {
    let mut out = Vec::new();
    ds.read_features(modality, utterance, utterance + 1, &mut out).unwrap();
    out
}

fn dialogue_by_id(ds: &Dataset, id: &str) -> erc_data::DialogueInfo {
    (0..ds.num_dialogues()).map(|d| ds.dialogue(d)).find(|d| d.id == id).unwrap()
}

#[test]
fn iemocap_features_pkl() {
    let (_tmp, ds) = convert("iemocap", "IEMOCAP_features.pkl", &["--valid-share", "0.25", "--seed", "3"]);
    let ds = ds.unwrap();
    let m = ds.manifest();
    assert_eq!(m.classes, vec!["hap", "sad", "neu", "ang", "exc", "fru"]);
    assert_eq!((ds.num_dialogues(), ds.num_utterances()), (6, 15));
    assert_eq!((m.splits["train"].len(), m.splits["valid"].len(), m.splits["test"].len()), (3, 1, 2));
    let dims: Vec<(String, usize)> = m.modalities.iter().map(|x| (x.name.clone(), x.dim)).collect();
    assert_eq!(dims, vec![("text".into(), 4), ("audio".into(), 5), ("visual".into(), 3)]);
    let a = dialogue_by_id(&ds, "Ses01_a");
    assert_eq!(ds.speakers(a.start, a.end), &[0, 1, 0], "M → 0, F → 1");
    assert_eq!(ds.labels(a.start, a.end), &[0, 1, 2]);
    assert_eq!(row(&ds, "text", a.start + 1), vec![4.0, 5.0, 6.0, 7.0]);
    assert_eq!(ds.texts().unwrap()[a.start], "Ses01_a says 0");
    assert!(m.source.contains("held out"), "{}", m.source);
}

#[test]
fn meld_features_raw1_pkl() {
    let (_tmp, ds) = convert("meld", "MELD_features_raw1.pkl", &[]);
    let ds = ds.unwrap();
    let m = ds.manifest();
    assert_eq!(m.classes.len(), 7);
    assert_eq!(m.speakers.len(), 9);
    assert_eq!((ds.num_dialogues(), ds.num_utterances()), (5, 10));
    assert_eq!(m.splits["test"].len(), 2);
    assert_eq!(m.splits["train"].len() + m.splits["valid"].len(), 3);
    let d = dialogue_by_id(&ds, "1");
    assert_eq!(ds.speakers(d.start, d.end), &[1, 2, 0], "argmax of the one-hot");
    assert_eq!(ds.labels(d.start, d.end), &[1, 4, 0]);
    assert_eq!(m.modalities.iter().map(|x| x.dim).collect::<Vec<_>>(), vec![6, 3, 2]);
}

#[test]
fn cosmic_roberta_pkls_keep_their_train_test_valid_order() {
    let (_tmp, ds) = convert("cosmic", "iemocap_features_roberta.pkl", &[]);
    let ds = ds.unwrap();
    let m = ds.manifest();
    assert_eq!((m.splits["train"].len(), m.splits["valid"].len(), m.splits["test"].len()), (3, 1, 2));
    assert_eq!(m.dialogue_ids[m.splits["valid"][0]], "Ses02_b", "the 10th item is the validation ids");
    assert_eq!(m.dialogue_ids[m.splits["test"][0]], "Ses05_a", "the 9th item is the test ids");
    let a = dialogue_by_id(&ds, "Ses01_a");
    // layers are base + 0..3: the mean is base + 1.5
    assert_eq!(row(&ds, "text", a.start), (0..8).map(|j| j as f32 + 1.5).collect::<Vec<_>>());
    let (_tmp2, last) = convert("cosmic", "iemocap_features_roberta.pkl", &["--roberta-layers", "last"]);
    let last = last.unwrap();
    assert_eq!(row(&last, "text", a.start), (0..8).map(|j| j as f32).collect::<Vec<_>>());

    let (_tmp3, meld) = convert("cosmic", "meld_features_roberta.pkl", &[]);
    let meld = meld.unwrap();
    assert_eq!(meld.manifest().classes.len(), 7);
    assert_eq!(meld.manifest().splits["valid"].len(), 1);
    assert_eq!(meld.num_utterances(), 10);
}

#[test]
fn multiemo_directory() {
    let (_tmp, ds) = convert("multiemo", "multiemo", &[]);
    let ds = ds.unwrap();
    let m = ds.manifest();
    let dims: Vec<usize> = m.modalities.iter().map(|x| x.dim).collect();
    assert_eq!(dims, vec![7, 5, 9]);
    assert_eq!(ds.num_utterances(), 15);
    assert!(!m.has_text);
    // IEMOCAP ids are sorted as MultiEMO sorts them
    let test: Vec<&str> = m.splits["test"].iter().map(|&d| m.dialogue_ids[d].as_str()).collect();
    assert_eq!(test, vec!["Ses05_a", "Ses05_b"]);
}

#[test]
fn bad_input_is_a_readable_error_and_writes_nothing() {
    let (tmp, ds) = convert("iemocap", "broken.pkl", &[]);
    let err = ds.unwrap_err();
    assert!(err.contains("expected a 9-item pickle"), "{err}");
    assert!(!tmp.path().join("ds").exists());
    let (_tmp, ds) = convert("iemocap", "absent.pkl", &[]);
    assert!(ds.unwrap_err().contains("does not exist"));
}
