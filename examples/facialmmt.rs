//! Train FacialMMT's CPU-sized preset (`small`: d = 256, frame encoders over audio frames and
//! face sequences, the facial-expression frame filter, text ↔ audio then ↔ vision cross-modal
//! transformers, additive pooling) on synthetic MELD-like per-utterance sequences, with its
//! facial-expression head trained on a matching auxiliary face-emotion set before each epoch,
//! and report the test metrics of the epoch selected on validation.
//!
//! ```text
//! cargo run --release --example facialmmt                          # 300/40/80 synthetic dialogues, 6 epochs
//! cargo run --release --example facialmmt -- --dialogues 1038,114,280 --epochs 15
//! cargo run --release --example facialmmt -- --no-face-emotions   # FER head left untrained
//! cargo run --release --example facialmmt -- --data DIR --face-emotions FACES --preset paper
//! ```
//! Options: `--backend flex|ndarray|wgpu|cuda`, `--seed N`.

mod common;

use common::{arg, backend_arg, print_report};
use erc::data::{Dataset, SynthConfig};
use erc::train::config::FaceEmotionTraining;
use erc::train::{RunConfig, RunOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = backend_arg()?;
    let seed: u64 = arg("--seed").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let dialogues: Vec<usize> = arg("--dialogues")
        .unwrap_or_else(|| "300,40,80".into())
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?;
    let [train_n, valid_n, test_n] = dialogues[..] else {
        return Err("--dialogues takes TRAIN,VALID,TEST".into());
    };
    let work = std::env::temp_dir().join(format!("erc-facialmmt-{}", std::process::id()));
    let synth = SynthConfig::meld_sequences(seed).with_dialogues(train_n, valid_n, test_n);
    let data_dir = common::data_dir(&work, &synth)?;
    let no_faces = std::env::args().any(|a| a == "--no-face-emotions");
    let faces_dir = match arg("--face-emotions") {
        Some(dir) => Some(dir.into()),
        None if no_faces => None,
        None if arg("--data").is_some() => None,
        None => {
            let dir = work.join("face_emotions");
            synth.face_emotion_set(3000)?.write(&dir)?;
            Some(dir)
        }
    };
    let dataset = Dataset::open(&data_dir)?;
    let preset = arg("--preset").unwrap_or_else(|| "small".into());
    let mut config = RunConfig::from_preset("facialmmt", Some(&preset))?;
    config.backend = backend;
    config.seed = seed;
    config.training.epochs = arg("--epochs").map(|e| e.parse()).transpose()?.unwrap_or(6);
    // the reference's 5e-5 suits Aff-Wild2's hundreds of thousands of frames (thousands of
    // steps per pass); the 3,000 synthetic faces give 20 steps per pass and need a larger step
    config.face_emotions = faces_dir.map(|dir| FaceEmotionTraining { lr: 1e-3, ..FaceEmotionTraining::reference(dir) });
    let mut options = RunOptions::quiet(work.join("run"));
    options.verbose = true;
    let report = train(&dataset, &config, &options)?;
    print_report("FacialMMT", &preset, &report, config.training.epochs);
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}
