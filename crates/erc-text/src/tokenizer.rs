//! Word-piece / BPE tokenisation with a Hugging Face `tokenizer.json`, truncated as
//! sentence-transformers does it: at most `max_seq_length` tokens including the special
//! tokens, word-pieces dropped from the end, no padding (batches pad themselves).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::TextError;

/// A `tokenizer.json` tokenizer with the encoder's truncation.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    vocab_size: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer").field("max_len", &self.max_len).field("vocab_size", &self.vocab_size).finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, replacing its own truncation and padding settings with
    /// truncation at `max_len` tokens and no padding. `vocab_size` is the model's: an id beyond
    /// it means the tokenizer belongs to another model.
    pub fn load(path: &Path, max_len: usize, vocab_size: usize) -> Result<Self, TextError> {
        if !path.exists() {
            return Err(TextError::Missing {
                path: path.into(),
                hint: "the encoder's tokenizer (Hugging Face tokenizer.json)".into(),
            });
        }
        let mut inner =
            Tokenizer::from_file(path).map_err(|e| TextError::Tokenizer(format!("{}: {e}", path.display())))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        Ok(Self { inner, max_len, vocab_size })
    }

    /// Tokens kept per text, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Token ids of each text, special tokens added, truncated (never empty: an empty text
    /// gives its special tokens alone).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, TextError> {
        let encodings =
            self.inner.encode_batch(texts.to_vec(), true).map_err(|e| TextError::Tokenizer(e.to_string()))?;
        let ids: Vec<Vec<u32>> = encodings.into_iter().map(|e| e.get_ids().to_vec()).collect();
        if let Some(bad) = ids.iter().flatten().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TextError::Tokenizer(format!(
                "token id {bad} is outside the model's vocabulary ({}): tokenizer.json belongs to another model",
                self.vocab_size
            )));
        }
        if ids.iter().any(|t| t.is_empty()) {
            return Err(TextError::Tokenizer("the tokenizer adds no special tokens and a text gave no token".into()));
        }
        Ok(ids)
    }
}
