//! Per-utterance sequences (token vectors, audio frames, face embeddings) in the dataset
//! format, whose modalities are one vector per utterance: a sequence modality `name` holds
//! `frames × width` values row-major, frame by frame, zero past the utterance's own length, and
//! `name_mask` holds `frames` values, 1.0 on real frames and 0.0 after.
//!
//! FacialMMT reads [`TEXT_TOKENS`], [`AUDIO_FRAMES`] and [`FACES`] this way.

use crate::batch::DataSpec;
use crate::error::ModelError;

/// Token vectors of the utterance's span in its dialogue, `[T, d_text]`.
pub const TEXT_TOKENS: &str = "text_tokens";
/// Audio frames (e.g. wav2vec2), `[A, d_audio]`.
pub const AUDIO_FRAMES: &str = "audio_frames";
/// The speaker's face embeddings (e.g. InceptionResNetV1), `[V, d_face]`.
pub const FACES: &str = "faces";

/// The mask modality of a sequence modality (`faces` → `faces_mask`).
pub fn mask_name(name: &str) -> String {
    format!("{name}_mask")
}

/// The padded length and frame width of a sequence modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceShape {
    /// Frames per utterance (the padded length).
    pub frames: usize,
    /// Values per frame.
    pub width: usize,
}

/// Reads a sequence modality's shape from a dataset's spec: both `name` and `name_mask` must
/// be there and the first's dimension a multiple of the second's.
pub fn sequence_shape(spec: &DataSpec, name: &str) -> Result<SequenceShape, ModelError> {
    let dim = spec.modality_dim(name)?;
    let frames = spec.modality_dim(&mask_name(name))?;
    if frames == 0 || !dim.is_multiple_of(frames) {
        return Err(ModelError::InvalidConfig(format!(
            "sequence modality `{name}` has dimension {dim}, not a multiple of its {frames} frames"
        )));
    }
    Ok(SequenceShape { frames, width: dim / frames })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ModalityDim;

    #[test]
    fn shapes_come_from_the_pair_of_modalities() {
        let spec = |dims: &[(&str, usize)]| DataSpec {
            classes: vec!["a".into()],
            modalities: dims.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
            num_speakers: 1,
            train_class_counts: None,
        };
        let ok = spec(&[("faces", 12), ("faces_mask", 3)]);
        assert_eq!(sequence_shape(&ok, FACES).unwrap(), SequenceShape { frames: 3, width: 4 });
        assert!(sequence_shape(&spec(&[("faces", 12)]), FACES).is_err());
        assert!(sequence_shape(&spec(&[("faces", 13), ("faces_mask", 3)]), FACES).is_err());
    }
}
