//! Speaker characteristics: two CLS encoders, "speaker" and "listener", summarise a dialogue,
//! and the summaries are routed to the utterances by speaker (introduced by MALN as its
//! speaker-characteristic learning module, SCLM).
//!
//! Two routings:
//! * [`SpeakerRouting::Binary`], the reference's: both encoders read the whole dialogue; party 0
//!   gets the listener summary, every other party the speaker summary, padding gets zero. For
//!   two parties this is exactly the reference's `argmax(q)·g_S + argmin(q)·g_R`.
//! * [`SpeakerRouting::PerSpeaker`], for any number of parties: for each party of a dialogue the
//!   speaker encoder reads that party's utterances and the listener encoder everyone else's
//!   (the others are masked out of the attention, positions stay those of the dialogue); an
//!   utterance gets the sum of its speaker's two summaries.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::batch::index_tensor;
use crate::encoder::{ClsEncoder, ClsEncoderConfig};
use crate::import::{ImportError, TorchParams};
use crate::rnn::Speakers;

/// How the speaker and listener summaries reach the utterances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerRouting {
    /// The reference's two-party rule: party 0 → listener summary, party ≥ 1 → speaker summary.
    Binary,
    /// Per party: its own utterances (speaker encoder) plus everyone else's (listener encoder).
    PerSpeaker,
    /// The reference's literal rule `argmax(q)·g_S + argmin(q)·g_R` for any number of
    /// parties: as [`SpeakerRouting::Binary`], except that party `k ≥ 1` gets `k·g_S` (almost
    /// surely unintended; for parity with the reference on more than two parties only).
    ReferenceRule,
}

/// The summaries one [`SpeakerCharacteristics::forward`] computed.
#[derive(Debug, Clone)]
pub struct Characteristics {
    /// The routed summary per utterance `[B, T, w]`, zero at padding.
    pub routed: Tensor<3>,
    /// Speaker-encoder summaries `[N, w]`: one per dialogue (binary routing) or one per
    /// (dialogue, party) pair in dialogue order, parties ascending (per-speaker routing).
    pub speaker: Tensor<2>,
    /// Listener-encoder summaries `[N, w]`, rows as [`Characteristics::speaker`].
    pub listener: Tensor<2>,
}

/// The speaker and listener CLS encoders of one modality.
#[derive(Module, Debug)]
pub struct SpeakerCharacteristics {
    /// `…_Speaker`.
    pub speaker: ClsEncoder,
    /// `…_Lisener` (the reference's spelling).
    pub listener: ClsEncoder,
}

/// Configuration of a [`SpeakerCharacteristics`]; [`SpeakerCharacteristicsConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct SpeakerCharacteristicsConfig {
    /// Width of the utterance features.
    pub width: usize,
    /// Feed-forward width of the encoders.
    pub d_ff: usize,
    /// Rows of the learned position tables.
    pub max_positions: usize,
    /// Dropout in the encoders.
    pub dropout: f64,
}

impl SpeakerCharacteristicsConfig {
    /// Fresh encoders of width `width` (one head, feed-forward `d_ff`, `max_positions` learned
    /// positions, dropout `dropout`).
    pub fn init(&self, device: &Device) -> SpeakerCharacteristics {
        let Self { width, d_ff, max_positions, dropout } = self.clone();
        SpeakerCharacteristics {
            speaker: ClsEncoderConfig::new(width, d_ff, max_positions, dropout).init(device),
            listener: ClsEncoderConfig::new(width, d_ff, max_positions, dropout).init(device),
        }
    }
}

impl SpeakerCharacteristics {
    /// Longest dialogue the position tables cover.
    pub fn max_len(&self) -> usize {
        self.speaker.max_len().min(self.listener.max_len())
    }

    /// Summarises `x` (`[B, T, w]`, padded) and routes the summaries to its utterances.
    /// `key_padding` (`[B, T]`, true at padded steps) keeps padding out of the binary routings'
    /// attention; without it they attend to padded steps as the reference does. Per-speaker
    /// routing always masks padding (its masks are built from the speakers and lengths).
    pub fn forward(
        &self,
        x: Tensor<3>,
        speakers: Speakers<'_>,
        routing: SpeakerRouting,
        key_padding: Option<&Tensor<2, Bool>>,
    ) -> Characteristics {
        match routing {
            SpeakerRouting::Binary => self.binary(x, speakers, key_padding, false),
            SpeakerRouting::ReferenceRule => self.binary(x, speakers, key_padding, true),
            SpeakerRouting::PerSpeaker => self.per_speaker(x, speakers),
        }
    }

    /// Binary routing; `scaled`: party `k ≥ 1` gets `k·g_S` (the reference's literal rule).
    fn binary(
        &self,
        x: Tensor<3>,
        speakers: Speakers<'_>,
        key_padding: Option<&Tensor<2, Bool>>,
        scaled: bool,
    ) -> Characteristics {
        let [b, t, _] = x.dims();
        let device = x.device();
        let speaker = self.speaker.forward(x.clone(), key_padding); // [B, w]
        let listener = self.listener.forward(x, key_padding);
        let mut to_speaker = vec![0f32; b * t];
        let mut to_listener = vec![0f32; b * t];
        for (d, &n) in speakers.lengths.iter().enumerate() {
            for i in 0..n {
                let row = d * t + i;
                match speakers.ids[row] {
                    0 => to_listener[row] = 1.0,
                    k if scaled => to_speaker[row] = k as f32,
                    _ => to_speaker[row] = 1.0,
                }
            }
        }
        let weights = |w: Vec<f32>| Tensor::<3>::from_data(TensorData::new(w, [b, t, 1]), &device);
        let routed = speaker.clone().unsqueeze_dim::<3>(1) * weights(to_speaker)
            + listener.clone().unsqueeze_dim::<3>(1) * weights(to_listener);
        Characteristics { routed, speaker, listener }
    }

    fn per_speaker(&self, x: Tensor<3>, speakers: Speakers<'_>) -> Characteristics {
        let [b, t, w] = x.dims();
        let device = x.device();
        // (dialogue, party) pairs, and the pair of every real utterance
        let mut pairs: Vec<(usize, i64)> = Vec::new();
        let mut pair_of_row = vec![usize::MAX; b * t];
        for (d, &n) in speakers.lengths.iter().enumerate() {
            let mut parties: Vec<i64> = speakers.ids[d * t..d * t + n].to_vec();
            parties.sort_unstable();
            parties.dedup();
            let first = pairs.len();
            pairs.extend(parties.iter().map(|&p| (d, p)));
            for i in 0..n {
                let party = speakers.ids[d * t + i];
                pair_of_row[d * t + i] = first + parties.binary_search(&party).expect("listed above");
            }
        }
        let n_pairs = pairs.len();
        // key masks: the party's own utterances (speaker) or the others' (listener)
        let mut own = Vec::with_capacity(n_pairs * t);
        let mut others = Vec::with_capacity(n_pairs * t);
        for &(d, party) in &pairs {
            for i in 0..t {
                let real = i < speakers.lengths[d];
                let is_party = real && speakers.ids[d * t + i] == party;
                own.push(!is_party);
                others.push(!real || is_party);
            }
        }
        let mask = |m: Vec<bool>| Tensor::<2, Bool>::from_data(TensorData::new(m, [n_pairs, t]), &device);
        let dialogues: Vec<usize> = pairs.iter().map(|&(d, _)| d).collect();
        let x_pairs = x.select(0, index_tensor(&dialogues, &device)); // [N, T, w]
        let speaker = self.speaker.forward(x_pairs.clone(), Some(&mask(own)));
        let listener = self.listener.forward(x_pairs, Some(&mask(others)));
        // padded rows read an appended zero row
        let table = Tensor::cat(vec![speaker.clone() + listener.clone(), Tensor::zeros([1, w], &device)], 0);
        let rows: Vec<usize> = pair_of_row.iter().map(|&p| if p == usize::MAX { n_pairs } else { p }).collect();
        let routed = table.select(0, index_tensor(&rows, &device)).reshape([b, t, w]);
        Characteristics { routed, speaker, listener }
    }

    /// Visits `speaker_prefix.*` and `listener_prefix.*` (see [`ClsEncoder::visit_torch`]).
    pub fn visit_torch(
        self,
        p: &mut impl TorchParams,
        speaker_prefix: &str,
        listener_prefix: &str,
    ) -> Result<Self, ImportError> {
        Ok(Self {
            speaker: self.speaker.visit_torch(p, speaker_prefix)?,
            listener: self.listener.visit_torch(p, listener_prefix)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::Distribution;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn binary_routing_sends_party_zero_the_listener_summary_and_padding_nothing() {
        let dev = device();
        let sclm = SpeakerCharacteristicsConfig::new(4, 8, 8, 0.0).init(&dev);
        let x = Tensor::<3>::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let ids = [0i64, 1, 0, 1, 1, 0];
        let padding =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, false, false, false, true], [2, 3]), &dev);
        let speakers = Speakers { ids: &ids, lengths: &[3, 2], slots: 2 };
        let out = sclm.forward(x, speakers, SpeakerRouting::Binary, Some(&padding));
        let routed = values(out.routed);
        let (s, l) = (values(out.speaker), values(out.listener));
        close(&routed[0..4], &l[0..4]);
        close(&routed[4..8], &s[0..4]);
        close(&routed[12..16], &s[4..8]);
        close(&routed[20..24], &[0.0; 4]); // padding
    }

    #[test]
    fn the_reference_rule_scales_the_speaker_summary_by_the_party_index() {
        let dev = device();
        let sclm = SpeakerCharacteristicsConfig::new(4, 8, 8, 0.0).init(&dev);
        let x = Tensor::<3>::random([1, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let ids = [0i64, 1, 3];
        let speakers = Speakers { ids: &ids, lengths: &[3], slots: 4 };
        let out = sclm.forward(x, speakers, SpeakerRouting::ReferenceRule, None);
        let (routed, s, l) = (values(out.routed), values(out.speaker), values(out.listener));
        close(&routed[0..4], &l);
        close(&routed[4..8], &s);
        close(&routed[8..12], &s.iter().map(|v| 3.0 * v).collect::<Vec<_>>());
    }

    #[test]
    fn per_speaker_summaries_depend_only_on_the_parties_utterances() {
        let dev = device();
        let sclm = SpeakerCharacteristicsConfig::new(4, 8, 8, 0.0).init(&dev);
        let x = Tensor::<3>::random([1, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let ids = [3i64, 5, 3, 7];
        let speakers = Speakers { ids: &ids, lengths: &[4], slots: 9 };
        let base = sclm.forward(x.clone(), speakers, SpeakerRouting::PerSpeaker, None);
        assert_eq!(base.speaker.dims(), [3, 4]); // parties 3, 5, 7
        // changing party 7's utterance leaves party 3's speaker summary alone but not its listener one
        let changed = x.clone().slice_assign([0..1, 3..4, 0..4], Tensor::ones([1, 1, 4], &dev));
        let other = sclm.forward(changed, speakers, SpeakerRouting::PerSpeaker, None);
        close(&values(base.speaker.clone().slice([0..1, 0..4])), &values(other.speaker.slice([0..1, 0..4])));
        let (a, b) = (values(base.listener.slice([0..1, 0..4])), values(other.listener.slice([0..1, 0..4])));
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4));
        // utterances 0 and 2 share a speaker, so they share the routed summary
        let routed = values(base.routed);
        close(&routed[0..4], &routed[8..12]);
    }
}
