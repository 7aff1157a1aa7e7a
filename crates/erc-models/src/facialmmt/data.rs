//! FacialMMT over the dataset format: the trainer's dialogue batches carry each utterance's
//! sequences as flat modalities ([`erc_core::sequences`]); the model gathers the real
//! utterances, runs the FER head and the frame filter on their faces, fuses, and scatters the
//! log-probabilities back to `[B, T, C]`.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use erc_core::loss::masked_nll;
use erc_core::sequences::{AUDIO_FRAMES, FACES, SequenceShape, TEXT_TOKENS, mask_name};
use erc_core::{DialogueBatch, DialogueModel, LossTerm, ModelError, ModelOutput};

use crate::facialmmt::{FacialMmt, SEQUENCE_MODALITIES, TextBranch, UtteranceInputs};

/// One modality's rows (flat `b·T + t` indices `rows`), `[N, D]`.
fn gather_modality(batch: &DialogueBatch, modality: &str, rows: &Tensor<1, Int>) -> Tensor<2> {
    let x = &batch.features[modality];
    let [b, t, d] = x.dims();
    x.clone().reshape([b * t, d]).select(0, rows.clone())
}

/// A sequence modality's rows as `[N, frames, width]` and its mask as `[N, frames]`.
fn gather_sequence(
    batch: &DialogueBatch,
    name: &str,
    rows: &Tensor<1, Int>,
    shape: SequenceShape,
) -> (Tensor<3>, Tensor<2>) {
    let n = rows.dims()[0];
    let values = gather_modality(batch, name, rows).reshape([n, shape.frames, shape.width]);
    (values, gather_modality(batch, &mask_name(name), rows))
}

impl FacialMmt {
    fn shape(&self, name: &str) -> SequenceShape {
        let c = &self.config;
        match name {
            TEXT_TOKENS => SequenceShape {
                frames: c.text_len,
                width: match c.text {
                    TextBranch::Features { dim } => dim,
                    TextBranch::Plm { ref transformer, .. } => transformer.hidden_size,
                },
            },
            AUDIO_FRAMES => SequenceShape { frames: c.audio_len, width: c.audio_dim },
            _ => SequenceShape { frames: c.vision_len, width: c.face_dim },
        }
    }

    /// Log-probabilities `[N, C]` of the batch's real utterances (in
    /// [`DialogueBatch::layout`]'s utterance order) and the flat rows (`b·T + t`, `[N]`) they
    /// came from.
    pub fn utterance_log_probs(&self, batch: &DialogueBatch) -> Result<(Tensor<2>, Tensor<1, Int>), ModelError> {
        for name in SEQUENCE_MODALITIES {
            let shape = self.shape(name);
            for (modality, dim) in [(name.to_string(), shape.frames * shape.width), (mask_name(name), shape.frames)] {
                let found = batch.features.get(&modality).map(|x| x.dims()[2]);
                if found != Some(dim) {
                    return Err(ModelError::MissingModality {
                        name: format!("{modality} (dimension {dim}, found {found:?})"),
                        available: batch.features.keys().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
        let device = batch.device();
        let flat = batch.layout.utterance_rows();
        let n = flat.len();
        let rows = Tensor::<1, Int>::from_data(
            TensorData::new(flat.iter().map(|&r| r as i64).collect::<Vec<_>>(), [n]),
            &device,
        );
        let (tokens, text_mask) = gather_sequence(batch, TEXT_TOKENS, &rows, self.shape(TEXT_TOKENS));
        let (audio, audio_mask) = gather_sequence(batch, AUDIO_FRAMES, &rows, self.shape(AUDIO_FRAMES));
        let (faces, face_mask) = gather_sequence(batch, FACES, &rows, self.shape(FACES));
        let valid: Vec<bool> = face_mask.into_data().iter::<f32>().map(|m| m != 0.0).collect();
        let fer_logits = self.fer.forward(faces.clone().detach());
        let filtered = self.filter(faces, fer_logits, &valid);
        let vision_mask = filtered.mask_tensor();
        let text = self.feature_text(tokens, &text_mask);
        let pass =
            self.fuse(UtteranceInputs { text, text_mask, audio, audio_mask, vision: filtered.rows, vision_mask });
        Ok((FacialMmt::log_probs(pass.logits), rows))
    }
}

impl DialogueModel for FacialMmt {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let (log_probs, rows) = self.utterance_log_probs(batch)?;
        let [b, t] = [batch.batch_size(), batch.max_len()];
        let c = self.config.num_classes;
        let log_probs = Tensor::<2>::zeros([b * t, c], &batch.device())
            .select_assign(0, rows, log_probs, IndexingUpdateOp::Add)
            .reshape([b, t, c]);
        let loss_terms = match batch.labels {
            Some(_) => masked_nll(log_probs.clone(), batch, None).map(|nll| vec![LossTerm::new("nll", nll)]),
            None => None,
        };
        Ok(ModelOutput { log_probs, loss_terms: loss_terms.unwrap_or_default() })
    }
}
