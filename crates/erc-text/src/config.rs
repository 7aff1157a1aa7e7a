//! The configuration of a Hugging Face encoder directory: `config.json` (the transformer) and
//! the sentence-transformers files beside it (`sentence_bert_config.json` for the maximum
//! sequence length, `1_Pooling/config.json` for the pooling mode, `modules.json` for
//! normalisation).

use std::path::Path;

use erc_core::encoder::{BertLayerConfig, FeedForwardActivation, KeyMasking};
use serde::{Deserialize, Serialize};

use crate::error::TextError;

/// Which member of the BERT family: they differ only in how positions are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// BERT, MiniLM and other `model_type: bert` checkpoints: positions `0..L`.
    Bert,
    /// RoBERTa (and XLM-R): positions start after the padding index, `pad + 1 + i`.
    Roberta,
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Masked mean over the real tokens (special tokens included), as sentence-transformers.
    Mean,
    /// The first token's vector (`[CLS]` / `<s>`).
    Cls,
}

/// The transformer's sizes, as `config.json` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// BERT or RoBERTa position numbering.
    pub family: Family,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub activation: FeedForwardActivation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    pub type_vocab_size: usize,
    /// Padding token id (RoBERTa numbers positions after it).
    pub pad_token_id: usize,
    /// Dropout of the embeddings and every layer (training only).
    pub dropout: f64,
}

impl TransformerConfig {
    /// The first position id: 0 for BERT, `pad + 1` for RoBERTa.
    pub fn position_offset(&self) -> usize {
        match self.family {
            Family::Bert => 0,
            Family::Roberta => self.pad_token_id + 1,
        }
    }

    /// The longest input the position table allows, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings.saturating_sub(self.position_offset())
    }

    /// The sizes of one encoder layer.
    pub fn layer(&self) -> BertLayerConfig {
        BertLayerConfig {
            width: self.hidden_size,
            heads: self.num_heads,
            d_ff: self.intermediate_size,
            layer_norm_eps: self.layer_norm_eps,
            dropout: self.dropout,
            activation: self.activation,
            masking: KeyMasking::Exclude,
        }
    }

    /// Reads and checks `config.json`.
    pub fn read(path: &Path) -> Result<Self, TextError> {
        let raw: HfConfig = read_json(path, "the model's config.json (Hugging Face layout)")?;
        let family = match raw.model_type.as_deref() {
            Some("bert") | None => Family::Bert,
            Some("roberta" | "xlm-roberta" | "camembert") => Family::Roberta,
            Some(other) => {
                return Err(TextError::Unsupported(format!(
                    "model_type `{other}` in {}: only BERT-family encoders (bert, roberta) are implemented",
                    path.display()
                )));
            }
        };
        if let Some(kind) = raw.position_embedding_type.as_deref().filter(|k| *k != "absolute") {
            return Err(TextError::Unsupported(format!("position_embedding_type `{kind}` (only `absolute`)")));
        }
        let activation = FeedForwardActivation::from_hf_name(&raw.hidden_act).ok_or_else(|| {
            TextError::Unsupported(format!("hidden_act `{}` (gelu, gelu_new or relu)", raw.hidden_act))
        })?;
        if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
            return Err(TextError::config(
                path,
                format!(
                    "num_attention_heads ({}) must divide hidden_size ({})",
                    raw.num_attention_heads, raw.hidden_size
                ),
            ));
        }
        let config = Self {
            family,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            activation,
            layer_norm_eps: raw.layer_norm_eps,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            pad_token_id: raw.pad_token_id.unwrap_or(if family == Family::Roberta { 1 } else { 0 }),
            dropout: raw.hidden_dropout_prob,
        };
        if config.max_tokens() < 2 {
            return Err(TextError::config(path, "max_position_embeddings leaves no room for a sentence"));
        }
        Ok(config)
    }
}

/// The fields of a Hugging Face `config.json` we read; the others are ignored.
#[derive(Debug, Deserialize)]
struct HfConfig {
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default)]
    pad_token_id: Option<usize>,
    #[serde(default)]
    position_embedding_type: Option<String>,
    #[serde(default = "default_dropout")]
    hidden_dropout_prob: f64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_type_vocab() -> usize {
    2
}
fn default_dropout() -> f64 {
    0.1
}

/// How sentences are cut and pooled (the sentence-transformers side of a directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceConfig {
    /// Tokens kept per sentence, special tokens included (longer ones are cut at the end).
    pub max_seq_length: usize,
    /// Pooling of the token vectors.
    pub pooling: Pooling,
    /// L2-normalise the pooled vector.
    pub normalize: bool,
}

impl SentenceConfig {
    /// Reads the sentence-transformers files of `dir` where present. Without them: mean pooling,
    /// no normalisation, the longest input the position table allows.
    pub fn read(dir: &Path, transformer: &TransformerConfig) -> Result<Self, TextError> {
        let limit = transformer.max_tokens();
        let st_path = dir.join("sentence_bert_config.json");
        let max_seq_length = if st_path.exists() {
            let st: StConfig = read_json(&st_path, "")?;
            st.max_seq_length.unwrap_or(limit).min(limit)
        } else {
            limit
        };
        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = if pooling_path.exists() {
            let p: StPooling = read_json(&pooling_path, "")?;
            match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token) {
                (true, false) => Pooling::Mean,
                (false, true) => Pooling::Cls,
                _ => {
                    return Err(TextError::Unsupported(format!(
                        "{}: only mean or CLS pooling (exactly one of them) is implemented",
                        pooling_path.display()
                    )));
                }
            }
        } else {
            Pooling::Mean
        };
        let modules_path = dir.join("modules.json");
        let normalize = if modules_path.exists() {
            let modules: Vec<StModule> = read_json(&modules_path, "")?;
            modules.iter().any(|m| m.kind.ends_with(".Normalize"))
        } else {
            false
        };
        Ok(Self { max_seq_length, pooling, normalize })
    }
}

#[derive(Debug, Deserialize)]
struct StConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct StPooling {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
}

#[derive(Debug, Deserialize)]
struct StModule {
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, hint: &str) -> Result<T, TextError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TextError::Missing { path: path.into(), hint: hint.into() }
        } else {
            TextError::Io { path: path.into(), source }
        }
    })?;
    serde_json::from_str(&text).map_err(|e| TextError::config(path, e.to_string()))
}
