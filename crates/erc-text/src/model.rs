//! The BERT-family transformer: token, position and token-type embeddings, an embedding
//! LayerNorm and a stack of [`BertLayer`](erc_core::encoder::BertLayer)s, loaded from a Hugging Face
//! `model.safetensors`.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use erc_core::encoder::{BertEncoder, BertEncoderConfig};
use erc_core::import::{HostTensor, ImportError, TensorFile, TorchNamed, TorchParams, import_layer_norm, import_param};

use crate::config::TransformerConfig;
use crate::error::TextError;

/// The encoder's token-level network (Hugging Face's `BertModel`/`RobertaModel` without the pooler).
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// `embeddings.word_embeddings`: `[vocab, w]`.
    pub word: Embedding,
    /// `embeddings.position_embeddings`: `[max_positions, w]`.
    pub position: Embedding,
    /// `embeddings.token_type_embeddings`: `[types, w]`.
    pub token_type: Embedding,
    /// `embeddings.LayerNorm`.
    pub embedding_norm: LayerNorm,
    /// `encoder.layer.*`.
    pub encoder: BertEncoder,
    dropout: Dropout,
    #[module(skip)]
    position_offset: usize,
}

impl TransformerConfig {
    /// A [`TextTransformer`] of these sizes with fresh weights.
    pub fn init(&self, device: &Device) -> TextTransformer {
        let w = self.hidden_size;
        TextTransformer {
            word: EmbeddingConfig::new(self.vocab_size, w).init(device),
            position: EmbeddingConfig::new(self.max_position_embeddings, w).init(device),
            token_type: EmbeddingConfig::new(self.type_vocab_size.max(1), w).init(device),
            embedding_norm: LayerNormConfig::new(w).with_epsilon(self.layer_norm_eps).init(device),
            encoder: BertEncoderConfig::new(self.layer(), self.num_layers).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            position_offset: self.position_offset(),
        }
    }
}

impl TextTransformer {
    /// Reads `model.safetensors` into a model of the configured sizes (strict: every weight
    /// must be there with its shape; see [`hf_state_dict`] for what is set aside).
    pub fn load(config: &TransformerConfig, weights: &Path, device: &Device) -> Result<Self, TextError> {
        if !weights.exists() {
            return Err(TextError::Missing {
                path: weights.into(),
                hint: "the encoder weights (Hugging Face model.safetensors)".into(),
            });
        }
        let wrap = |source| TextError::Weights { path: weights.into(), source };
        let file = TensorFile::read(weights).map_err(wrap)?;
        let state = hf_state_dict(&file).map_err(wrap)?;
        config.init(device).import_pytorch(&state, true).map_err(wrap)
    }

    /// Width of the token vectors.
    pub fn width(&self) -> usize {
        self.word.weight.dims()[1]
    }

    /// Token vectors (the last hidden state), `[B, L, w]`, of right-padded token ids
    /// `ids` (`[B, L]`); `padding` (`[B, L]`) is true at padded positions. Token types are 0.
    pub fn forward(&self, ids: Tensor<2, Int>, padding: &Tensor<2, Bool>) -> Tensor<3> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let positions: Vec<i64> = (0..l).map(|i| (self.position_offset + i) as i64).collect();
        let positions = Tensor::<2, Int>::from_data(TensorData::new(positions, [1, l]), &device);
        let types = Tensor::<2, Int>::zeros([1, l], &device);
        let x = self.word.forward(ids)
            + self.position.forward(positions).expand([b, l, self.width()])
            + self.token_type.forward(types).expand([b, l, self.width()]);
        let x = self.dropout.forward(self.embedding_norm.forward(x));
        self.encoder.forward(x, Some(padding))
    }
}

impl TorchNamed for TextTransformer {
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let mut word = self.word;
        word.weight = import_param(p, "embeddings.word_embeddings.weight", word.weight, false)?;
        let mut position = self.position;
        position.weight = import_param(p, "embeddings.position_embeddings.weight", position.weight, false)?;
        let mut token_type = self.token_type;
        token_type.weight = import_param(p, "embeddings.token_type_embeddings.weight", token_type.weight, false)?;
        let embedding_norm = import_layer_norm(p, "embeddings.LayerNorm", self.embedding_norm)?;
        let encoder = self.encoder.visit_torch(p, "encoder")?;
        Ok(Self { word, position, token_type, embedding_norm, encoder, ..self })
    }
}

/// The encoder's weights from a Hugging Face checkpoint, under `BertModel` names:
/// a `bert.` / `roberta.` / `model.` prefix is stripped (checkpoints saved from a task model carry one),
/// TF-era `LayerNorm.gamma/beta` become `weight/bias`, and what the sentence encoder does not
/// use is set aside: the `position_ids` / `token_type_ids` buffers, the pooler and task heads
/// (`pooler.*`, `cls.*`, `lm_head.*`, `classifier.*`).
pub fn hf_state_dict(file: &TensorFile) -> Result<TensorFile, ImportError> {
    let prefix = ["bert.", "roberta.", "model."]
        .into_iter()
        .find(|p| file.names().any(|n| n.starts_with(p) && n.contains("embeddings.word_embeddings")));
    let mut out = TensorFile::default();
    for name in file.names() {
        let Some(stripped) = prefix.map_or(Some(name), |p| name.strip_prefix(p)) else { continue };
        let ignored = ["pooler.", "cls.", "lm_head.", "classifier."].iter().any(|h| stripped.starts_with(h))
            || stripped.ends_with("position_ids")
            || stripped.ends_with("token_type_ids");
        if ignored {
            continue;
        }
        let renamed =
            stripped.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias");
        let tensor = file.get(name).expect("listed by names()").clone();
        if let HostTensor::Int { .. } = tensor {
            return Err(ImportError::Dtype { key: name.to_string(), dtype: "an integer type".into() });
        }
        out.insert(renamed, tensor);
    }
    Ok(out)
}
