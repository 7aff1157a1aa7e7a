//! BERT-family sentence encoders in burn: BERT, MiniLM and RoBERTa checkpoints in Hugging Face
//! layout (`config.json`, `model.safetensors`, `tokenizer.json`, plus the sentence-transformers
//! files when present) turned into utterance vectors on any compiled backend.
//!
//! ```no_run
//! use erc_core::burn::tensor::Device;
//! let encoder = erc_text::SentenceEncoder::load("models/all-MiniLM-L6-v2".as_ref(), &Device::flex())?;
//! let vectors = encoder.encode(&["I can't believe it!", "Okay."])?; // [2, 384]
//! # Ok::<(), erc_text::TextError>(())
//! ```

#![deny(missing_docs)]

pub mod config;
pub mod encoder;
pub mod error;
pub mod featurize;
pub mod model;
pub mod parity;
pub mod pooling;
pub mod tokenizer;

pub use config::{Family, Pooling, SentenceConfig, TransformerConfig};
pub use encoder::{DEFAULT_BATCH_SIZE, Embeddings, SentenceEncoder};
pub use error::TextError;
pub use featurize::{FeaturizeOptions, FeaturizeSummary, TEXT_MODALITY, featurize};
pub use model::TextTransformer;
pub use tokenizer::TextTokenizer;
