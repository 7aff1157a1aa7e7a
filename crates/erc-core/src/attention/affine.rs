//! Multi-head attention with full-width affine query, key and value maps and **no output
//! projection**: the heads' contexts are concatenated as they are. First used by MALN
//! (`self_attention.{query,key,value}`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};

use super::attention_weights;
use crate::import::{ImportError, TorchParams, import_linear};

/// Multi-head attention with full-width affine query, key and value maps, the width split into
/// heads, dropout on the attention weights, and the heads concatenated (no output projection).
#[derive(Module, Debug)]
pub struct AffineAttention {
    /// `query`: `w → w`.
    pub query: Linear,
    /// `key`: `w → w`.
    pub key: Linear,
    /// `value`: `w → w`.
    pub value: Linear,
    dropout: Dropout,
    #[module(skip)]
    heads: usize,
}

/// Configuration of a [`AffineAttention`]; [`AffineAttentionConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct AffineAttentionConfig {
    /// Width of the streams.
    pub width: usize,
    /// Heads (must divide `width`).
    pub heads: usize,
    /// Dropout on the attention weights.
    pub dropout: f64,
}

impl AffineAttentionConfig {
    /// Fresh weights for streams of width `width` split into `heads` heads (`heads` must divide
    /// `width`), with attention-weight dropout `dropout`.
    pub fn init(&self, device: &Device) -> AffineAttention {
        let Self { width, heads, dropout } = self.clone();
        assert!(heads > 0 && width.is_multiple_of(heads), "heads ({heads}) must divide the width ({width})");
        let linear = || LinearConfig::new(width, width).init(device);
        AffineAttention {
            query: linear(),
            key: linear(),
            value: linear(),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }
}

impl AffineAttention {
    /// `x` (`[B, Lq, w]`) attends to `context` (`[B, Lk, w]`); `key_padding` (`[B, Lk]`, true at
    /// padded steps) keeps those steps out of every softmax. Returns `[B, Lq, w]`.
    pub fn forward(&self, x: Tensor<3>, context: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let [b, lq, w] = x.dims();
        let lk = context.dims()[1];
        let h = self.heads;
        let split = |t: Tensor<3>, l: usize| t.reshape([b, l, h, w / h]).swap_dims(1, 2); // [B, h, L, w/h]
        let q = split(self.query.forward(x), lq);
        let k = split(self.key.forward(context.clone()), lk);
        let v = split(self.value.forward(context), lk);
        let weights = self.dropout.forward(attention_weights(q, k, key_padding)); // [B, h, Lq, Lk]
        weights.matmul(v).swap_dims(1, 2).reshape([b, lq, w])
    }

    /// Visits `prefix.{query,key,value}.{weight,bias}`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            query: import_linear(p, &format!("{prefix}.query"), self.query)?,
            key: import_linear(p, &format!("{prefix}.key"), self.key)?,
            value: import_linear(p, &format!("{prefix}.value"), self.value)?,
            ..self
        })
    }
}
