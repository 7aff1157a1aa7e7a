//! Running a checkpoint on new dialogues: class probabilities per utterance, batch by batch,
//! with the model loaded once.

use burn::tensor::activation::softmax;
use erc_core::batch::HostBatch;
use erc_core::{BackendKind, DialogueBatch, DialogueModel};

use crate::checkpoint::Checkpoint;
use crate::error::TrainError;

/// Class probabilities of one dialogue: one row of `classes` values per utterance.
pub type DialogueProbabilities = Vec<Vec<f32>>;

/// Maps speaker names to the speaker ids a checkpoint was trained with.
///
/// A name the training data had keeps its id. An unknown name takes the lowest id that no
/// other speaker of the same dialogue holds, in order of first appearance, so two unknown
/// speakers stay apart; when every slot is taken, ids are reused in turn.
#[derive(Debug, Clone)]
pub struct SpeakerMap {
    known: Vec<String>,
    slots: usize,
}

impl SpeakerMap {
    /// A map over the training speakers `known` (index = id) and the model's `slots` ids.
    pub fn new(known: &[String], slots: usize) -> Self {
        Self { known: known.iter().take(slots).cloned().collect(), slots: slots.max(1) }
    }

    /// Speaker ids of one dialogue's utterances.
    pub fn map(&self, speakers: &[&str]) -> Vec<i64> {
        let mut taken: Vec<bool> = vec![false; self.slots];
        let known_id = |name: &str| self.known.iter().position(|k| k == name);
        for s in speakers {
            if let Some(id) = known_id(s) {
                taken[id] = true;
            }
        }
        let mut assigned: Vec<(&str, usize)> = Vec::new();
        let mut overflow = 0;
        speakers
            .iter()
            .map(|&s| {
                if let Some(id) = known_id(s) {
                    return id as i64;
                }
                if let Some(&(_, id)) = assigned.iter().find(|(name, _)| *name == s) {
                    return id as i64;
                }
                let id = match taken.iter().position(|t| !t) {
                    Some(free) => free,
                    None => {
                        overflow += 1;
                        (overflow - 1) % self.slots
                    }
                };
                taken[id] = true;
                assigned.push((s, id));
                id as i64
            })
            .collect()
    }
}

/// Runs the checkpoint's model (evaluation mode, on `backend`) over `batches` and hands each
/// batch's payload (whatever the caller needs to report it) and its probabilities, dialogue by
/// dialogue, to `sink`. Returns the number of dialogues.
pub fn predict_batches<P, I, S>(
    checkpoint: &Checkpoint,
    backend: BackendKind,
    batches: I,
    mut sink: S,
) -> Result<usize, TrainError>
where
    I: Iterator<Item = Result<(HostBatch, P), TrainError>>,
    S: FnMut(P, Vec<DialogueProbabilities>) -> Result<(), TrainError>,
{
    let device = backend.device()?;
    let model = checkpoint.load_model(&device)?;
    let mut dialogues = 0;
    for item in batches {
        let (host, payload) = item?;
        let lengths = host.lengths.clone();
        let batch = DialogueBatch::from_host(host, &device)?;
        let output = model.forward(&batch)?;
        let [b, t, c] = output.log_probs.dims();
        let probs: Vec<f32> = softmax(output.log_probs, 2).into_data().iter::<f32>().collect();
        let per_dialogue = (0..b)
            .map(|i| (0..lengths[i]).map(|u| probs[(i * t + u) * c..(i * t + u + 1) * c].to_vec()).collect())
            .collect();
        dialogues += b;
        sink(payload, per_dialogue)?;
    }
    Ok(dialogues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_speakers_keep_their_ids_and_unknown_ones_take_free_slots() {
        let map = SpeakerMap::new(&["M".into(), "F".into()], 2);
        assert_eq!(map.map(&["F", "M", "F"]), vec![1, 0, 1]);
        // unknown speakers beside a known one get the free slot, then reuse in turn
        assert_eq!(map.map(&["Ann", "M", "Ann"]), vec![1, 0, 1]);
        assert_eq!(map.map(&["Ann", "Bob", "Ann", "Cy"]), vec![0, 1, 0, 0]);
        let nine: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        let map = SpeakerMap::new(&nine, 9);
        assert_eq!(map.map(&["s3", "new", "s0"]), vec![3, 1, 0]);
    }
}
