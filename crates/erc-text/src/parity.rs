//! Comparison with a sentence-transformers reference fixture (`embeddings.json` +
//! `embeddings.safetensors`: the sentences, the reference's token ids, token vectors, mean-pooled
//! and normalised sentence vectors).

use std::path::Path;

use erc_core::import::{HostTensor, TensorFile};
use serde_json::Value;

use crate::config::Pooling;
use crate::encoder::SentenceEncoder;
use crate::error::TextError;

/// How far an encoder is from a reference fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderParity {
    /// Sentences compared.
    pub sentences: usize,
    /// Sentences whose token ids differ from the reference's (by index).
    pub token_mismatches: Vec<usize>,
    /// `max |ours − ref|` over the normalised sentence vectors.
    pub normalized_max_abs: f32,
    /// The smallest per-sentence cosine between ours and the reference's normalised vectors.
    pub normalized_min_cosine: f32,
    /// `max |ours − ref|` over the mean-pooled (unnormalised) vectors.
    pub mean_pooled_max_abs: f32,
    /// `max |ours − ref|` over the token vectors of real tokens (the fixture's token batch).
    pub token_max_abs: f32,
}

/// The fixture's stated bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParityBounds {
    /// Bound on [`EncoderParity::normalized_max_abs`].
    pub normalized_abs: f32,
    /// Bound on [`EncoderParity::normalized_min_cosine`] (from below).
    pub normalized_cosine_min: f32,
    /// Bound on [`EncoderParity::mean_pooled_max_abs`].
    pub mean_pooled_abs: f32,
    /// Bound on [`EncoderParity::token_max_abs`].
    pub token_abs: f32,
}

impl EncoderParity {
    /// Whether every figure is within `bounds` and every token id matches.
    pub fn passes(&self, bounds: &ParityBounds) -> bool {
        self.token_mismatches.is_empty()
            && self.normalized_max_abs <= bounds.normalized_abs
            && self.normalized_min_cosine >= bounds.normalized_cosine_min
            && self.mean_pooled_max_abs <= bounds.mean_pooled_abs
            && self.token_max_abs <= bounds.token_abs
    }
}

/// A reference fixture read from `<stem>.json` and `<stem>.safetensors`.
#[derive(Debug, Clone)]
pub struct EncoderFixture {
    /// The sentences, in order.
    pub sentences: Vec<String>,
    /// The reference's tensors.
    pub tensors: TensorFile,
    /// The tolerances the fixture states.
    pub bounds: ParityBounds,
}

impl EncoderFixture {
    /// Reads `path` (either file of the pair, or the stem).
    pub fn read(path: &Path) -> Result<Self, TextError> {
        let json_path = path.with_extension("json");
        let st_path = path.with_extension("safetensors");
        let text =
            std::fs::read_to_string(&json_path).map_err(|source| TextError::Io { path: json_path.clone(), source })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| TextError::config(&json_path, e.to_string()))?;
        let bad = |what: &str| TextError::config(&json_path, format!("not an encoder fixture: {what}"));
        let sentences = json["inputs"]["sentences"]
            .as_array()
            .ok_or_else(|| bad("no inputs.sentences"))?
            .iter()
            .map(|s| s.as_str().map(String::from).ok_or_else(|| bad("a sentence is not a string")))
            .collect::<Result<Vec<_>, _>>()?;
        let tol = &json["tolerance"];
        let num = |v: &Value, what: &str| v.as_f64().map(|x| x as f32).ok_or_else(|| bad(what));
        let bounds = ParityBounds {
            normalized_abs: num(&tol["normalized"]["abs"], "tolerance.normalized.abs")?,
            normalized_cosine_min: num(&tol["normalized"]["cosine_min"], "tolerance.normalized.cosine_min")?,
            mean_pooled_abs: num(&tol["mean_pooled"]["abs"], "tolerance.mean_pooled.abs")?,
            token_abs: num(&tol["token_embeddings"]["abs"], "tolerance.token_embeddings.abs")?,
        };
        let file = TensorFile::read(&st_path).map_err(|source| TextError::Weights { path: st_path, source })?;
        // the reference outputs are stored as `output.<name>`
        let tensors = file.with_prefix("output.");
        Ok(Self { sentences, tensors, bounds })
    }

    fn float(&self, name: &str) -> Result<(&[usize], &[f32]), TextError> {
        match self.tensors.get(name) {
            Some(HostTensor::Float { shape, values }) => Ok((shape, values)),
            _ => Err(TextError::Input(format!("the fixture has no float tensor `{name}`"))),
        }
    }

    fn int(&self, name: &str) -> Result<(&[usize], &[i64]), TextError> {
        match self.tensors.get(name) {
            Some(HostTensor::Int { shape, values }) => Ok((shape, values)),
            _ => Err(TextError::Input(format!("the fixture has no integer tensor `{name}`"))),
        }
    }

    /// The reference's token ids of sentence `i` (padding removed by its attention mask).
    pub fn reference_ids(&self, i: usize) -> Result<Vec<u32>, TextError> {
        let (shape, ids) = self.int("input_ids")?;
        let (_, mask) = self.int("attention_mask")?;
        let l = shape[1];
        Ok((0..l).filter(|&t| mask[i * l + t] == 1).map(|t| ids[i * l + t] as u32).collect())
    }
}

/// Whether the fixture beside `path` (`.json`) is a sentence-encoder fixture (it lists
/// `inputs.sentences`) rather than a model fixture.
pub fn is_encoder_fixture(path: &Path) -> bool {
    std::fs::read_to_string(path.with_extension("json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|j| j["inputs"]["sentences"].is_array())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Runs `encoder` on the fixture's sentences and measures every difference.
pub fn compare(encoder: &SentenceEncoder, fixture: &EncoderFixture) -> Result<EncoderParity, TextError> {
    let texts: Vec<&str> = fixture.sentences.iter().map(String::as_str).collect();
    let ids = encoder.tokenize(&texts)?;
    let mut token_mismatches = Vec::new();
    for (i, ours) in ids.iter().enumerate() {
        if *ours != fixture.reference_ids(i)? {
            token_mismatches.push(i);
        }
    }
    let dim = encoder.dim();

    let mean = encoder.encode_ids_as(&ids, Pooling::Mean, false)?;
    let (_, ref_mean) = fixture.float("mean_pooled")?;
    let normalized = encoder.encode_ids_as(&ids, Pooling::Mean, true)?;
    let (_, ref_norm) = fixture.float("normalized")?;
    let mut min_cos = f32::INFINITY;
    for i in 0..ids.len() {
        let (a, b) = (normalized.row(i), &ref_norm[i * dim..(i + 1) * dim]);
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        min_cos = min_cos.min(dot / (na * nb).max(1e-12));
    }

    // the token batch: the listed sentences in one padded batch, compared on real tokens only
    let (_, index) = fixture.int("token_embeddings_index")?;
    let (tok_shape, ref_tokens) = fixture.float("token_embeddings")?;
    let (_, tok_mask) = fixture.int("token_embeddings_attention_mask")?;
    let batch: Vec<Vec<u32>> = index.iter().map(|&i| ids[i as usize].clone()).collect();
    let (tokens, _) = encoder.token_vectors(&batch)?;
    let [_, l_ours, _] = tokens.dims();
    let ours: Vec<f32> = tokens.into_data().iter::<f32>().collect();
    let l_ref = tok_shape[1];
    let mut token_max_abs = 0.0f32;
    for (row, seq) in batch.iter().enumerate() {
        for t in 0..seq.len() {
            if tok_mask[row * l_ref + t] != 1 {
                return Err(TextError::Input(format!(
                    "token batch row {row}: our length differs from the reference's"
                )));
            }
            let a = &ours[(row * l_ours + t) * dim..(row * l_ours + t + 1) * dim];
            let b = &ref_tokens[(row * l_ref + t) * dim..(row * l_ref + t + 1) * dim];
            token_max_abs = token_max_abs.max(max_abs_diff(a, b));
        }
    }

    Ok(EncoderParity {
        sentences: ids.len(),
        token_mismatches,
        normalized_max_abs: max_abs_diff(&normalized.values, ref_norm),
        normalized_min_cosine: min_cos,
        mean_pooled_max_abs: max_abs_diff(&mean.values, ref_mean),
        token_max_abs,
    })
}
