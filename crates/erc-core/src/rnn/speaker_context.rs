//! Speaker-level context: a recurrent layer run over each speaker's own utterances.
//!
//! For dialogue `b` and speaker `s`, the utterances `s` spoke (in time order) form a sequence;
//! a shared bidirectional GRU runs over it and each output is written back to the time step of
//! the utterance it came from. Every (dialogue, speaker) pair of every input runs as one row of
//! a single batched GRU call, and pairs with no utterance are never run.

use burn::tensor::Tensor;

use crate::batch::{BatchLayout, index_tensor};
use crate::rnn::MaskedBiGru;

/// The utterances of one speaker in one dialogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerRun {
    /// The dialogue's index in the batch.
    pub dialogue: usize,
    /// The speaker id.
    pub speaker: i64,
    /// The speaker's time steps, ascending.
    pub steps: Vec<usize>,
}

/// A batch's utterances grouped by (dialogue, speaker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerGroups {
    /// One entry per (dialogue, speaker) pair with at least one utterance, dialogue-major,
    /// speakers in ascending id order.
    pub runs: Vec<SpeakerRun>,
    lengths: Vec<usize>,
    max_len: usize,
}

impl SpeakerGroups {
    /// Groups the real utterances of a batch by their speaker ids.
    pub fn from_layout(layout: &BatchLayout) -> Self {
        let mut runs = Vec::new();
        for (b, &n) in layout.lengths.iter().enumerate() {
            let mut by_speaker: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
            for t in 0..n {
                by_speaker.entry(layout.speakers[b * layout.max_len + t]).or_default().push(t);
            }
            runs.extend(by_speaker.into_iter().map(|(speaker, steps)| SpeakerRun { dialogue: b, speaker, steps }));
        }
        Self { runs, lengths: layout.lengths.clone(), max_len: layout.max_len }
    }

    /// Gather index building the speaker sequences of `inputs` inputs from their stacked,
    /// flattened rows (`input · B·T + b·T + t`, plus one zero row at the end):
    /// `[inputs · runs · T']` with `T'` the longest dialogue that has a run.
    fn gather_index(&self, inputs: usize, seq_len: usize) -> Vec<usize> {
        let bt = self.lengths.len() * self.max_len;
        let zero_row = inputs * bt;
        let mut index = Vec::with_capacity(inputs * self.runs.len() * seq_len);
        for m in 0..inputs {
            for run in &self.runs {
                for j in 0..seq_len {
                    index.push(match run.steps.get(j) {
                        Some(&t) => m * bt + run.dialogue * self.max_len + t,
                        None => zero_row,
                    });
                }
            }
        }
        index
    }

    /// Scatter-back index: for every input and padded position `(b, t)`, the row of the GRU
    /// output (`(input · runs + run) · T' + j`) holding utterance `t`, or the trailing zero row.
    fn scatter_index(&self, inputs: usize, seq_len: usize) -> Vec<usize> {
        let bt = self.lengths.len() * self.max_len;
        let zero_row = inputs * self.runs.len() * seq_len;
        let mut per_input = vec![zero_row; bt];
        for (r, run) in self.runs.iter().enumerate() {
            for (j, &t) in run.steps.iter().enumerate() {
                per_input[run.dialogue * self.max_len + t] = r * seq_len + j;
            }
        }
        let stride = self.runs.len() * seq_len;
        (0..inputs)
            .flat_map(|m| per_input.iter().map(move |&row| if row == zero_row { zero_row } else { row + m * stride }))
            .collect()
    }
}

/// Runs `gru` over every speaker's own utterances for each of `inputs` (`[B, T, D]` each,
/// sharing one layout) and scatters the outputs back to their time steps.
///
/// Each speaker sequence is laid out as the reference does for a dialogue on its own: the
/// speaker's `k` utterances in rows `0..k`, zero rows up to the dialogue's length `n_b`, and
/// the reverse direction starting at row `n_b - 1`. So a dialogue's result never depends on the
/// other dialogues of the batch. Returns one `[B, T, 2H]` tensor per input, zero at padding.
pub fn speaker_context(gru: &MaskedBiGru, inputs: &[Tensor<3>], groups: &SpeakerGroups) -> Vec<Tensor<3>> {
    let Some(first) = inputs.first() else { return Vec::new() };
    let [b, t, d] = first.dims();
    let device = first.device();
    let out_dim = 2 * gru.d_hidden();
    if groups.runs.is_empty() {
        return inputs.iter().map(|_| Tensor::zeros([b, t, out_dim], &device)).collect();
    }
    let m = inputs.len();
    let seq_len = groups.runs.iter().map(|r| groups.lengths[r.dialogue]).max().unwrap_or(1);
    let source = Tensor::cat(
        inputs.iter().map(|x| x.clone().reshape([b * t, d])).chain([Tensor::zeros([1, d], &device)]).collect(),
        0,
    ); // [M·B·T + 1, D]
    let sequences = source.select(0, index_tensor(&groups.gather_index(m, seq_len), &device)).reshape([
        m * groups.runs.len(),
        seq_len,
        d,
    ]);
    let lengths: Vec<usize> = (0..m).flat_map(|_| groups.runs.iter().map(|r| groups.lengths[r.dialogue])).collect();
    let out = gru.forward(sequences, &lengths); // [M·R, T', 2H]
    let table = Tensor::cat(
        vec![out.reshape([m * groups.runs.len() * seq_len, out_dim]), Tensor::zeros([1, out_dim], &device)],
        0,
    );
    let scattered = table.select(0, index_tensor(&groups.scatter_index(m, seq_len), &device)); // [M·B·T, 2H]
    (0..m).map(|i| scattered.clone().narrow(0, i * b * t, b * t).reshape([b, t, out_dim])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rnn::MaskedBiGruConfig;
    use crate::test_util::{device, values};
    use burn::tensor::{Distribution, TensorData};

    fn layout(lengths: Vec<usize>, speakers: Vec<i64>) -> BatchLayout {
        let max_len = *lengths.iter().max().unwrap();
        let labels = vec![0; lengths.len() * max_len];
        BatchLayout { lengths, max_len, labels, speakers }
    }

    #[test]
    fn groups_follow_speakers_in_time_order() {
        let g = SpeakerGroups::from_layout(&layout(vec![4, 2], vec![1, 0, 1, 1, 3, 3, 0, 0]));
        let runs: Vec<(usize, i64, Vec<usize>)> =
            g.runs.iter().map(|r| (r.dialogue, r.speaker, r.steps.clone())).collect();
        assert_eq!(runs, vec![(0, 0, vec![1]), (0, 1, vec![0, 2, 3]), (1, 3, vec![0, 1])]);
    }

    /// The definition, one speaker at a time: gather the speaker's rows, pad with zero rows to
    /// the dialogue length, run the GRU on that dialogue alone, write the outputs back.
    #[test]
    fn matches_a_per_speaker_loop_and_ignores_the_rest_of_the_batch() {
        let d = device();
        let gru = MaskedBiGruConfig::new(3, 2).with_num_layers(2).init(&d);
        let lay = layout(vec![5, 3], vec![0, 1, 0, 0, 1, 2, 2, 2, 9, 9]);
        let x = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &d);
        let out = values(speaker_context(&gru, std::slice::from_ref(&x), &SpeakerGroups::from_layout(&lay)).remove(0));
        let xs = values(x);
        let mut expected = vec![0f32; 2 * 5 * 4];
        for (b, n) in [(0usize, 5usize), (1, 3)] {
            for spk in [0i64, 1, 2] {
                let steps: Vec<usize> = (0..n).filter(|&t| lay.speakers[b * 5 + t] == spk).collect();
                if steps.is_empty() {
                    continue;
                }
                let mut seq = vec![0f32; n * 3];
                for (j, &t) in steps.iter().enumerate() {
                    seq[j * 3..j * 3 + 3].copy_from_slice(&xs[(b * 5 + t) * 3..(b * 5 + t) * 3 + 3]);
                }
                let alone = values(gru.forward(Tensor::from_data(TensorData::new(seq, [1, n, 3]), &d), &[n]));
                for (j, &t) in steps.iter().enumerate() {
                    expected[(b * 5 + t) * 4..(b * 5 + t) * 4 + 4].copy_from_slice(&alone[j * 4..j * 4 + 4]);
                }
            }
        }
        for (i, (a, e)) in out.iter().zip(&expected).enumerate() {
            assert!((a - e).abs() < 1e-5, "element {i}: {a} vs {e}");
        }
    }
}
