//! The synthetic multimodal conversation generator, erc's built-in default data.
//!
//! What it plants (see `docs/synthetic-data.md`):
//!
//! * **Context.** Each speaker carries an emotional state through the dialogue. An
//!   utterance repeats its speaker's previous emotion with probability `persistence`, takes
//!   the previous utterance's emotion (contagion) with probability `contagion`, and is drawn
//!   fresh from the class prior otherwise. Neighbouring utterances are informative.
//! * **Partial views.** Modality 0 (text) cannot tell apart the class pairs `(0,1), (2,3), …`;
//!   modality 1 (audio) cannot tell apart `(1,2), (3,4), …, (K-1,0)`; further modalities
//!   (visual) see every class but with more noise. Text and audio together pin the class down;
//!   neither does alone.
//! * **Noise.** Features are `prototype(view(class)) + speaker offset + N(0, σ²)` per
//!   coordinate, so every single utterance is ambiguous.
//!
//! Everything is drawn from one ChaCha8 stream seeded by `seed`.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::DataError;
use crate::transcripts::{IEMOCAP_CLASSES, MELD_CLASSES};
use crate::writer::{DatasetBuilder, DialogueRecord};

/// Which real dataset the shapes imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthShape {
    /// 6 classes, two speakers (`M`, `F`), long dialogues (20–80 utterances).
    IemocapLike,
    /// 7 imbalanced classes, 1–5 speakers from a pool of 9, short dialogues (mean ≈ 9.6).
    MeldLike,
}

impl std::str::FromStr for SynthShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "iemocap" | "iemocap-like" => Ok(Self::IemocapLike),
            "meld" | "meld-like" => Ok(Self::MeldLike),
            other => Err(format!("unknown synthetic shape `{other}`: expected iemocap or meld")),
        }
    }
}

/// One modality of the generator: its dimension and observation noise.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthModality {
    /// Modality name.
    pub name: String,
    /// Feature dimension.
    pub dim: usize,
    /// Standard deviation of the per-coordinate noise (prototypes have norm `signal`).
    pub noise: f32,
    /// Norm of the class prototypes.
    pub signal: f32,
}

/// Everything that determines a synthetic dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Dataset name.
    pub name: String,
    /// Shape family (speakers, lengths, class prior).
    pub shape: SynthShape,
    /// Class names in index order.
    pub classes: Vec<String>,
    /// Relative class frequencies of fresh draws.
    pub class_prior: Vec<f64>,
    /// Modalities, in order (the first two get the complementary partial views).
    pub modalities: Vec<SynthModality>,
    /// Dialogues in the train, valid and test splits.
    pub dialogues: [usize; 3],
    /// Probability that an utterance keeps its speaker's previous emotion.
    pub persistence: f64,
    /// Probability that an utterance takes the previous utterance's emotion.
    pub contagion: f64,
    /// Norm of each speaker's per-modality offset.
    pub speaker_offset: f32,
    /// Seed of everything.
    pub seed: u64,
    /// Per-utterance frame sequences instead of one vector per modality (FacialMMT's inputs).
    pub sequences: Option<SequenceLayout>,
}

/// How the generator lays out per-utterance sequences ([`erc_core::sequences`]): modality `m`
/// becomes `frames[m]` frames of its dimension plus a `_mask` modality. Each utterance has
/// 1..=`frames[m]` frames (the last modality, faces, may have none); a frame is the utterance's
/// vector plus `N(0, frame_noise²)` noise. Only a share of the faces are *expressive* (they
/// carry the class prototype); the others show the speaker without the emotion, which is
/// what FacialMMT's frame filter must learn to drop.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceLayout {
    /// Padded frames per modality.
    pub frames: Vec<usize>,
    /// Per-frame noise around the utterance's vector.
    pub frame_noise: f32,
    /// Probability that a face carries the emotion.
    pub expressive_share: f64,
    /// Probability that an utterance has no face at all.
    pub faceless_share: f64,
}

fn modality(name: &str, dim: usize, noise: f32) -> SynthModality {
    SynthModality { name: name.into(), dim, noise, signal: 1.0 }
}

impl SynthConfig {
    /// IEMOCAP-like: 6 classes, 100/20/31 dialogues of 20–80 utterances, two speakers,
    /// text 100, audio 1582, visual 342 (the dimensions of `IEMOCAP_features.pkl`).
    pub fn iemocap_like(seed: u64) -> Self {
        Self {
            name: "synthetic-iemocap".into(),
            shape: SynthShape::IemocapLike,
            classes: IEMOCAP_CLASSES.iter().map(|s| s.to_string()).collect(),
            class_prior: vec![648.0, 1084.0, 1708.0, 1103.0, 1041.0, 1849.0],
            modalities: vec![modality("text", 100, 0.8), modality("audio", 1582, 0.8), modality("visual", 342, 1.2)],
            dialogues: [100, 20, 31],
            persistence: 0.6,
            contagion: 0.2,
            speaker_offset: 0.5,
            seed,
            sequences: None,
        }
    }

    /// MELD-like: 7 imbalanced classes, 1038/114/280 short dialogues, up to 5 of 9 speakers,
    /// text 600, audio 300, visual 342 (the dimensions of `MELD_features_raw1.pkl`).
    pub fn meld_like(seed: u64) -> Self {
        Self {
            name: "synthetic-meld".into(),
            shape: SynthShape::MeldLike,
            classes: MELD_CLASSES.iter().map(|s| s.to_string()).collect(),
            class_prior: vec![6436.0, 1636.0, 358.0, 1002.0, 2308.0, 361.0, 1607.0],
            modalities: vec![modality("text", 600, 0.8), modality("audio", 300, 0.8), modality("visual", 342, 1.2)],
            dialogues: [1038, 114, 280],
            persistence: 0.6,
            contagion: 0.2,
            speaker_offset: 0.5,
            seed,
            sequences: None,
        }
    }

    /// FacialMMT-shaped MELD-like data: the MELD-like dialogues, with per-utterance sequences
    /// `text_tokens` (12 × 32), `audio_frames` (16 × 32) and `faces` (8 × 32; half of the
    /// faces expressive, 5 % of utterances without a face), each with its `_mask`.
    pub fn meld_sequences(seed: u64) -> Self {
        Self {
            name: "synthetic-meld-sequences".into(),
            modalities: vec![
                modality("text_tokens", 32, 0.8),
                modality("audio_frames", 32, 0.8),
                modality("faces", 32, 1.2),
            ],
            sequences: Some(SequenceLayout {
                frames: vec![12, 16, 8],
                frame_noise: 0.5,
                expressive_share: 0.5,
                faceless_share: 0.05,
            }),
            ..Self::meld_like(seed)
        }
    }

    /// The preset of a shape.
    pub fn for_shape(shape: SynthShape, seed: u64) -> Self {
        match shape {
            SynthShape::IemocapLike => Self::iemocap_like(seed),
            SynthShape::MeldLike => Self::meld_like(seed),
        }
    }

    /// Sets every modality's dimension (small dims make fast tests).
    pub fn with_dims(mut self, dims: &[usize]) -> Self {
        for (m, &d) in self.modalities.iter_mut().zip(dims) {
            m.dim = d;
        }
        self
    }

    /// Sets the number of train, valid and test dialogues.
    pub fn with_dialogues(mut self, train: usize, valid: usize, test: usize) -> Self {
        self.dialogues = [train, valid, test];
        self
    }

    fn check(&self) -> Result<(), DataError> {
        let bad = |m: String| DataError::invalid("synthetic config", m);
        if self.classes.len() < 2 || self.class_prior.len() != self.classes.len() {
            return Err(bad("need at least 2 classes and one prior weight per class".into()));
        }
        if self.modalities.is_empty() || self.modalities.iter().any(|m| m.dim == 0) {
            return Err(bad("need at least one modality, each of dimension > 0".into()));
        }
        if self.persistence < 0.0 || self.contagion < 0.0 || self.persistence + self.contagion > 1.0 {
            return Err(bad("persistence and contagion must be probabilities summing to at most 1".into()));
        }
        if self.dialogues.contains(&0) {
            return Err(bad("every split needs at least one dialogue".into()));
        }
        if let Some(seq) = &self.sequences
            && (seq.frames.len() != self.modalities.len() || seq.frames.contains(&0))
        {
            return Err(bad("sequences need a positive frame count per modality".into()));
        }
        Ok(())
    }

    /// The observable code of `class` in modality `m`: classes sharing a code look alike.
    pub fn view(&self, m: usize, class: usize) -> usize {
        let k = self.classes.len();
        match m {
            // pairs (0,1), (2,3), …; with odd K the last class stands alone
            0 => class - class % 2,
            // pairs (1,2), (3,4), …, and (K-1, 0) when K is even
            1 => match class {
                0 if k.is_multiple_of(2) => k - 1,
                0 => 0,
                c if c % 2 == 0 => c - 1,
                c => c,
            },
            _ => class,
        }
    }

    /// Generates the dataset.
    pub fn generate(&self) -> Result<DatasetBuilder, DataError> {
        self.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let prototypes = self.prototypes(&mut rng);
        let pool: Vec<String> = match self.shape {
            SynthShape::IemocapLike => vec!["M".into(), "F".into()],
            SynthShape::MeldLike => (0..9).map(|i| format!("speaker{i}")).collect(),
        };
        let offsets: Vec<Vec<Vec<f32>>> = self
            .modalities
            .iter()
            .map(|m| pool.iter().map(|_| scaled_direction(&mut rng, m.dim, self.speaker_offset)).collect())
            .collect();
        let prior_total: f64 = self.class_prior.iter().sum();

        let stored: Vec<(String, usize)> = match &self.sequences {
            None => self.modalities.iter().map(|m| (m.name.clone(), m.dim)).collect(),
            Some(seq) => self
                .modalities
                .iter()
                .zip(&seq.frames)
                .flat_map(|(m, &f)| [(m.name.clone(), f * m.dim), (format!("{}_mask", m.name), f)])
                .collect(),
        };
        let mut builder = DatasetBuilder::new(self.name.clone(), self.classes.clone(), stored)
            .with_source(format!("erc synthetic generator, {:?}, seed {}", self.shape, self.seed))
            .with_speakers(&pool.iter().map(String::as_str).collect::<Vec<_>>());

        for (split, &count) in ["train", "valid", "test"].iter().zip(&self.dialogues) {
            for d in 0..count {
                let (speakers, labels) = self.draw_dialogue(&mut rng, pool.len(), prior_total);
                let n = labels.len();
                let mut features = BTreeMap::new();
                for (mi, m) in self.modalities.iter().enumerate() {
                    let mut values = Vec::with_capacity(n * m.dim);
                    for (&s, &y) in speakers.iter().zip(&labels) {
                        let proto = &prototypes[mi][self.view(mi, y)];
                        let offset = &offsets[mi][s];
                        for j in 0..m.dim {
                            values.push(proto[j] + offset[j] + m.noise * normal(&mut rng));
                        }
                    }
                    match &self.sequences {
                        None => {
                            features.insert(m.name.clone(), values);
                        }
                        Some(seq) => {
                            let last = mi + 1 == self.modalities.len();
                            let (frames, masks) =
                                self.frames_of(&mut rng, seq, mi, last, &values, &speakers, &offsets[mi]);
                            features.insert(m.name.clone(), frames);
                            features.insert(format!("{}_mask", m.name), masks);
                        }
                    }
                }
                builder.add_dialogue(DialogueRecord {
                    id: format!("{split}_{d:05}"),
                    split: split.to_string(),
                    speakers: speakers.iter().map(|&s| pool[s].clone()).collect(),
                    labels: labels.iter().map(|&y| y as i64).collect(),
                    texts: None,
                    features,
                })?;
            }
        }
        Ok(builder)
    }

    /// The class prototypes, `[modality][code][dim]`: unit directions scaled to `signal`,
    /// the first draws of the seeded stream.
    fn prototypes(&self, rng: &mut ChaCha8Rng) -> Vec<Vec<Vec<f32>>> {
        let k = self.classes.len();
        self.modalities.iter().map(|m| (0..k).map(|_| scaled_direction(rng, m.dim, m.signal)).collect()).collect()
    }

    /// Expands each utterance's vector (`values`, `[n, dim]`) of modality `mi` into a padded
    /// frame sequence and its mask. Faces (`last`) may be absent and only some are expressive:
    /// the others show the speaker's offset and noise, without the class prototype.
    #[allow(clippy::too_many_arguments)]
    fn frames_of(
        &self,
        rng: &mut ChaCha8Rng,
        seq: &SequenceLayout,
        mi: usize,
        last: bool,
        values: &[f32],
        speakers: &[usize],
        offsets: &[Vec<f32>],
    ) -> (Vec<f32>, Vec<f32>) {
        let (dim, frames) = (self.modalities[mi].dim, seq.frames[mi]);
        let noise = self.modalities[mi].noise;
        let mut out = vec![0f32; speakers.len() * frames * dim];
        let mut mask = vec![0f32; speakers.len() * frames];
        for (u, &s) in speakers.iter().enumerate() {
            let len = if last && rng.random_bool(seq.faceless_share) { 0 } else { rng.random_range(1..=frames) };
            for j in 0..len {
                let expressive = !last || rng.random_bool(seq.expressive_share);
                let row = &mut out[(u * frames + j) * dim..(u * frames + j + 1) * dim];
                for (c, slot) in row.iter_mut().enumerate() {
                    let centre = if expressive { values[u * dim + c] } else { offsets[s][c] + noise * normal(rng) };
                    *slot = centre + seq.frame_noise * normal(rng);
                }
                mask[u * frames + j] = 1.0;
            }
        }
        (out, mask)
    }

    /// An auxiliary face-emotion set matching this configuration's faces (the last modality):
    /// `count` faces, each its class prototype plus `N(0, frame_noise²)` (the modality's noise
    /// without sequences), classes drawn from the prior. Deterministic in `seed` and independent of the dialogues drawn.
    pub fn face_emotion_set(&self, count: usize) -> Result<crate::face_emotions::FaceEmotionSet, DataError> {
        self.check()?;
        let prototypes = self.prototypes(&mut ChaCha8Rng::seed_from_u64(self.seed));
        let faces = self.modalities.len() - 1;
        let m = &self.modalities[faces];
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xFACE_E307);
        // labelled expression frames: the prototype with frame-level noise only
        let noise = self.sequences.as_ref().map_or(m.noise, |s| s.frame_noise);
        let total: f64 = self.class_prior.iter().sum();
        let mut embeddings = Vec::with_capacity(count * m.dim);
        let mut labels = Vec::with_capacity(count);
        for _ in 0..count {
            let class = self.draw_class(&mut rng, total);
            let proto = &prototypes[faces][self.view(faces, class)];
            embeddings.extend(proto.iter().map(|p| p + noise * normal(&mut rng)));
            labels.push(class as i64);
        }
        crate::face_emotions::FaceEmotionSet::new(
            m.dim,
            embeddings,
            labels,
            format!("erc synthetic faces, seed {}", self.seed),
        )
    }

    /// A class drawn from the prior (`prior_total` its sum), one uniform draw.
    fn draw_class(&self, rng: &mut ChaCha8Rng, prior_total: f64) -> usize {
        let mut u = rng.random::<f64>() * prior_total;
        for (c, w) in self.class_prior.iter().enumerate() {
            if u < *w {
                return c;
            }
            u -= w;
        }
        self.class_prior.len() - 1
    }

    /// Draws one dialogue's speaker sequence (indices into the pool) and labels.
    fn draw_dialogue(&self, rng: &mut ChaCha8Rng, pool_size: usize, prior_total: f64) -> (Vec<usize>, Vec<usize>) {
        let (len, parties): (usize, Vec<usize>) = match self.shape {
            SynthShape::IemocapLike => {
                let mut parties = vec![0, 1];
                if rng.random_bool(0.5) {
                    parties.swap(0, 1);
                }
                (rng.random_range(20..=80), parties)
            }
            SynthShape::MeldLike => {
                let len = ((2.0f64.ln() + 1.8 * rng.random::<f64>()).exp().round() as usize).clamp(1, 24);
                let wanted = rng.random_range(1..=5usize).min(len).max(1);
                let mut parties: Vec<usize> = (0..pool_size).collect();
                for i in 0..wanted {
                    let j = rng.random_range(i..pool_size);
                    parties.swap(i, j);
                }
                parties.truncate(wanted);
                (len, parties)
            }
        };
        let mut state: Vec<Option<usize>> = vec![None; parties.len()];
        let (mut speakers, mut labels) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let mut turn = 0usize;
        for t in 0..len {
            if t > 0 {
                // mostly take turns; sometimes the same or another party speaks
                turn =
                    if rng.random_bool(0.75) { (turn + 1) % parties.len() } else { rng.random_range(0..parties.len()) };
            }
            let u = rng.random::<f64>();
            let y = match (state[turn], labels.last()) {
                (Some(own), _) if u < self.persistence => own,
                (_, Some(&prev)) if u >= self.persistence && u < self.persistence + self.contagion => prev,
                _ => self.draw_class(rng, prior_total),
            };
            state[turn] = Some(y);
            speakers.push(parties[turn]);
            labels.push(y);
        }
        (speakers, labels)
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A random direction of the given norm.
fn scaled_direction(rng: &mut ChaCha8Rng, dim: usize, norm: f32) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| normal(rng)).collect();
    let len = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x * norm / len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_complementary_partitions() {
        for k in [6usize, 7] {
            let mut cfg = SynthConfig::iemocap_like(0);
            cfg.classes = (0..k).map(|c| c.to_string()).collect();
            for a in 0..k {
                for b in 0..k {
                    if a != b {
                        let text_same = cfg.view(0, a) == cfg.view(0, b);
                        let audio_same = cfg.view(1, a) == cfg.view(1, b);
                        assert!(!(text_same && audio_same), "classes {a},{b} indistinguishable (k={k})");
                    }
                }
            }
            // each of the two partial views merges at least one pair
            assert!((0..k).any(|c| cfg.view(0, c) != c));
            assert!((0..k).any(|c| cfg.view(1, c) != c));
        }
    }

    #[test]
    fn generation_is_deterministic_by_seed() {
        let cfg = SynthConfig::meld_like(7).with_dims(&[4, 3, 2]).with_dialogues(5, 2, 2);
        let a = cfg.generate().unwrap().manifest();
        let b = cfg.generate().unwrap().manifest();
        assert_eq!(a, b);
        let c = SynthConfig::meld_like(8).with_dims(&[4, 3, 2]).with_dialogues(5, 2, 2).generate().unwrap().manifest();
        assert_ne!(a.num_utterances, 0);
        assert!(a != c);
    }
}
