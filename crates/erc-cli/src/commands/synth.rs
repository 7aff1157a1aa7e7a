//! `erc synth`: a synthetic multimodal conversation dataset.

use std::path::{Path, PathBuf};

use clap::Args;
use erc_data::SynthConfig;
use erc_data::synth::SynthShape;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output dataset directory (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Shape family: iemocap or meld.
    #[arg(long, default_value = "iemocap")]
    shape: SynthShape,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dialogues per split as TRAIN,VALID,TEST (default: the shape's).
    #[arg(long, value_parser = parse_triple)]
    dialogues: Option<[usize; 3]>,
    /// Feature dimensions as TEXT,AUDIO,VISUAL (default: the shape's).
    #[arg(long, value_parser = parse_triple)]
    dims: Option<[usize; 3]>,
    /// Per-utterance sequences (text_tokens, audio_frames, faces with masks) for FacialMMT,
    /// MELD-like; --dims then sets each frame's width.
    #[arg(long)]
    sequences: bool,
    /// Also write a matching auxiliary face-emotion set (needs --sequences) to this directory.
    #[arg(long, requires = "sequences")]
    face_emotions: Option<PathBuf>,
    /// Faces in the auxiliary set.
    #[arg(long, default_value_t = 3000)]
    face_count: usize,
}

pub fn parse_triple(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> =
        s.split(',').map(|p| p.trim().parse::<usize>().map_err(|e| format!("`{p}`: {e}"))).collect::<Result<_, _>>()?;
    parts.try_into().map_err(|_| "expected three comma-separated numbers".to_string())
}

fn synth_config(shape: SynthShape, seed: u64, dialogues: Option<[usize; 3]>, dims: Option<[usize; 3]>) -> SynthConfig {
    let mut cfg = SynthConfig::for_shape(shape, seed);
    if let Some([t, v, s]) = dialogues {
        cfg = cfg.with_dialogues(t, v, s);
    }
    if let Some(d) = dims {
        cfg = cfg.with_dims(&d);
    }
    cfg
}

/// Runs `erc synth`.
pub fn run(a: SynthArgs) -> Result<(), CliError> {
    let cfg = if a.sequences {
        let mut cfg = SynthConfig::meld_sequences(a.seed);
        if let Some([t, v, s]) = a.dialogues {
            cfg = cfg.with_dialogues(t, v, s);
        }
        if let Some(d) = a.dims {
            cfg = cfg.with_dims(&d);
        }
        cfg
    } else {
        synth_config(a.shape, a.seed, a.dialogues, a.dims)
    };
    if let Some(dir) = &a.face_emotions {
        erc_data::writer::ensure_writable_target(dir)?;
    }
    write_synthetic(&cfg, &a.out)?;
    println!("wrote {} to {}", cfg.name, a.out.display());
    if let Some(dir) = &a.face_emotions {
        cfg.face_emotion_set(a.face_count)?.write(dir)?;
        println!("wrote {} auxiliary faces to {}", a.face_count, dir.display());
    }
    Ok(())
}

/// Generates `cfg` into `out` (which must not exist or be empty).
pub fn write_synthetic(cfg: &SynthConfig, out: &Path) -> Result<(), CliError> {
    erc_data::writer::ensure_writable_target(out)?;
    let builder = cfg.generate()?;
    builder.write(out)?;
    Ok(())
}
