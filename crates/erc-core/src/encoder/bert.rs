//! The BERT-style (post-LayerNorm) transformer encoder layer, under Hugging Face's parameter
//! names: self-attention with an output projection, a two-linear feed-forward block with GELU,
//! each sub-layer followed by residual + LayerNorm.
//!
//! `A = LN₁(X + Drop(W_o MHA(X) + b_o))`, `Y = LN₂(A + Drop(W₂ act(W₁ A + b₁) + b₂))`.
//!
//! Used by the text encoder (BERT, MiniLM, RoBERTa) and by models whose frame encoders are
//! BERT layers. Names: `attention.self.{query,key,value}`, `attention.output.dense`,
//! `attention.output.LayerNorm`, `intermediate.dense`, `output.dense`, `output.LayerNorm`.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax};
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::attention::attention_weights;
use crate::import::{ImportError, TorchParams, import_layer_norm, import_linear};

/// The feed-forward activation (`hidden_act` in a Hugging Face config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedForwardActivation {
    /// Exact GELU, `x·Φ(x)` with the error function (`gelu`).
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU (`relu`).
    Relu,
}

impl FeedForwardActivation {
    /// Parses a Hugging Face `hidden_act` name; `None` for names we do not implement.
    pub fn from_hf_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }

    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Gelu => gelu(x),
            Self::GeluTanh => gelu_approximate(x),
            Self::Relu => relu(x),
        }
    }
}

/// How padded keys are kept out of the attention softmax.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum KeyMasking {
    /// Padded keys get a score of −10³⁰: they receive no weight (Hugging Face's BERT, which
    /// adds the dtype's minimum).
    Exclude,
    /// `(1 − m)·value` is added to the scores (older BERT code and FacialMMT add −10000). A
    /// query whose keys are all padded then still attends over them, as the reference does.
    Additive(f32),
}

/// The parameter names of a [`BertLayer`]'s parts below its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertLayerNames {
    /// The query projection.
    pub query: &'static str,
    /// The key projection.
    pub key: &'static str,
    /// The value projection.
    pub value: &'static str,
    /// The attention output projection.
    pub attention_out: &'static str,
    /// The LayerNorm after attention.
    pub attention_norm: &'static str,
    /// The first feed-forward linear.
    pub intermediate: &'static str,
    /// The second feed-forward linear.
    pub output: &'static str,
    /// The LayerNorm after the feed-forward block.
    pub output_norm: &'static str,
}

impl BertLayerNames {
    /// Hugging Face's `BertLayer` names.
    pub const HUGGING_FACE: Self = Self {
        query: "attention.self.query",
        key: "attention.self.key",
        value: "attention.self.value",
        attention_out: "attention.output.dense",
        attention_norm: "attention.output.LayerNorm",
        intermediate: "intermediate.dense",
        output: "output.dense",
        output_norm: "output.LayerNorm",
    };

    /// FacialMMT's `modules/Transformer.py` names (its audio and vision frame encoders).
    pub const FACIAL_MMT: Self = Self {
        query: "transformer_self_attention.selfatt.query",
        key: "transformer_self_attention.selfatt.key",
        value: "transformer_self_attention.selfatt.value",
        attention_out: "transformer_self_attention.dense_norm.dense",
        attention_norm: "transformer_self_attention.dense_norm.LayerNorm",
        intermediate: "intermediate.dense",
        output: "output.dense",
        output_norm: "output.LayerNorm",
    };
}

/// Sizes of a [`BertLayer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertLayerConfig {
    /// Model width (`hidden_size`).
    pub width: usize,
    /// Attention heads; must divide `width`.
    pub heads: usize,
    /// Feed-forward width (`intermediate_size`).
    pub d_ff: usize,
    /// LayerNorm epsilon (`layer_norm_eps`; BERT uses 1e-12).
    pub layer_norm_eps: f64,
    /// Dropout on attention weights and on both residual branches (training only).
    pub dropout: f64,
    /// Feed-forward activation.
    pub activation: FeedForwardActivation,
    /// How padded keys are masked.
    pub masking: KeyMasking,
}

impl BertLayerConfig {
    /// Fresh weights (burn's default initialisation).
    pub fn init(&self, device: &Device) -> BertLayer {
        let w = self.width;
        assert!(self.heads > 0 && w.is_multiple_of(self.heads), "heads ({}) must divide the width ({w})", self.heads);
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let norm = || LayerNormConfig::new(w).with_epsilon(self.layer_norm_eps).init(device);
        BertLayer {
            query: linear(w, w),
            key: linear(w, w),
            value: linear(w, w),
            attention_out: linear(w, w),
            attention_norm: norm(),
            intermediate: linear(w, self.d_ff),
            output: linear(self.d_ff, w),
            output_norm: norm(),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
            activation: self.activation,
            masking: self.masking,
        }
    }
}

/// One post-LayerNorm transformer encoder layer with BERT's structure and names.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// `attention.self.query`.
    pub query: Linear,
    /// `attention.self.key`.
    pub key: Linear,
    /// `attention.self.value`.
    pub value: Linear,
    /// `attention.output.dense`.
    pub attention_out: Linear,
    /// `attention.output.LayerNorm`.
    pub attention_norm: LayerNorm,
    /// `intermediate.dense`: `width → d_ff`.
    pub intermediate: Linear,
    /// `output.dense`: `d_ff → width`.
    pub output: Linear,
    /// `output.LayerNorm`.
    pub output_norm: LayerNorm,
    dropout: Dropout,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    activation: FeedForwardActivation,
    #[module(skip)]
    masking: KeyMasking,
}

impl BertLayer {
    /// `x`: `[B, L, w]`; `key_padding`: `[B, L]`, true at padded positions (they attend but are
    /// never attended to). Returns `[B, L, w]`.
    pub fn forward(&self, x: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let [b, l, w] = x.dims();
        let h = self.heads;
        let split = |t: Tensor<3>| t.reshape([b, l, h, w / h]).swap_dims(1, 2); // [B, h, L, w/h]
        let rows = x.clone().reshape([b * l, w]); // every token of the batch as one row: [B·L, w]
        let q = split(self.query.forward(rows.clone()).reshape([b, l, w]));
        let k = split(self.key.forward(rows.clone()).reshape([b, l, w]));
        let v = split(self.value.forward(rows).reshape([b, l, w]));
        let weights = match (self.masking, key_padding) {
            (KeyMasking::Additive(value), Some(mask)) => {
                let bias = mask.clone().float().mul_scalar(value).reshape([b, 1, 1, l]); // [B, 1, 1, L]
                softmax(q.matmul(k.swap_dims(2, 3)).div_scalar(((w / h) as f64).sqrt()) + bias, 3)
            }
            _ => attention_weights(q, k, key_padding),
        };
        let weights = self.dropout.forward(weights); // [B, h, L, L]
        let context = weights.matmul(v).swap_dims(1, 2).reshape([b * l, w]);
        let attended = self.dropout.forward(self.attention_out.forward(context));
        let a = self.attention_norm.forward(x.reshape([b * l, w]) + attended); // [B·L, w]
        let ff = self.output.forward(self.activation.apply(self.intermediate.forward(a.clone())));
        self.output_norm.forward(a + self.dropout.forward(ff)).reshape([b, l, w])
    }

    /// Visits the layer's weights below `prefix` in Hugging Face's `state_dict` order.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        self.visit_torch_named(p, prefix, &BertLayerNames::HUGGING_FACE)
    }

    /// Visits the layer's weights below `prefix` under the given part names (same order).
    pub fn visit_torch_named(
        self,
        p: &mut impl TorchParams,
        prefix: &str,
        names: &BertLayerNames,
    ) -> Result<Self, ImportError> {
        let name = |part: &str| format!("{prefix}.{part}");
        Ok(Self {
            query: import_linear(p, &name(names.query), self.query)?,
            key: import_linear(p, &name(names.key), self.key)?,
            value: import_linear(p, &name(names.value), self.value)?,
            attention_out: import_linear(p, &name(names.attention_out), self.attention_out)?,
            attention_norm: import_layer_norm(p, &name(names.attention_norm), self.attention_norm)?,
            intermediate: import_linear(p, &name(names.intermediate), self.intermediate)?,
            output: import_linear(p, &name(names.output), self.output)?,
            output_norm: import_layer_norm(p, &name(names.output_norm), self.output_norm)?,
            ..self
        })
    }
}

/// A stack of [`BertLayer`]s (`encoder.layer.{i}`).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// The layers, input side first.
    pub layers: Vec<BertLayer>,
}

/// Configuration of a [`BertEncoder`]; [`BertEncoderConfig::init`] builds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertEncoderConfig {
    /// Sizes of each layer.
    pub layer: BertLayerConfig,
    /// Layers.
    pub layers: usize,
}

impl BertEncoderConfig {
    /// A configuration of these sizes.
    pub fn new(layer: BertLayerConfig, layers: usize) -> Self {
        Self { layer, layers }
    }

    /// `layers` fresh layers of the same sizes.
    pub fn init(&self, device: &Device) -> BertEncoder {
        let Self { layer, layers } = self.clone();
        BertEncoder { layers: (0..layers).map(|_| layer.init(device)).collect() }
    }
}

impl BertEncoder {
    /// `x`: `[B, L, w]` → `[B, L, w]`, every layer with the same key padding (`[B, L]`).
    pub fn forward(&self, x: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x, key_padding))
    }

    /// Visits `prefix.layer.{i}.*` for every layer (Hugging Face names).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        self.visit_torch_named(p, prefix, &BertLayerNames::HUGGING_FACE)
    }

    /// Visits `prefix.layer.{i}.*` for every layer under the given part names.
    pub fn visit_torch_named(
        self,
        p: &mut impl TorchParams,
        prefix: &str,
        names: &BertLayerNames,
    ) -> Result<Self, ImportError> {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| layer.visit_torch_named(p, &format!("{prefix}.layer.{i}"), names))
            .collect::<Result<_, _>>()?;
        Ok(Self { layers })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData};

    use super::*;
    use crate::test_util::{device, small_bert_layer, values};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    fn config() -> BertLayerConfig {
        small_bert_layer(KeyMasking::Exclude)
    }

    /// Padding positions never change the real positions' outputs.
    #[test]
    fn padded_keys_do_not_reach_real_positions() {
        let device = device();
        let layer = config().init(&device);
        let x = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let alone = layer.forward(x.clone(), None);
        let junk = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 5.0), &device);
        let padded = Tensor::cat(vec![x, junk], 1);
        let mask =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, false, true, true], [1, 5]), &device);
        let out = layer.forward(padded, Some(&mask)).slice([0..1, 0..3, 0..8]);
        assert!(max_diff(out, alone) < 1e-5);
    }

    /// The output rows are LayerNorm-ed: mean 0 and unit variance per position.
    #[test]
    fn output_is_layer_normalised() {
        let device = device();
        let layer = config().init(&device);
        let x = Tensor::<3>::random([2, 4, 8], Distribution::Normal(0.0, 3.0), &device);
        let y = layer.forward(x, None);
        let mean = y.clone().mean_dim(2);
        let var = (y - mean.clone()).powi_scalar(2).mean_dim(2);
        assert!(max_diff(mean, Tensor::zeros([2, 4, 1], &device)) < 1e-5);
        assert!(max_diff(var, Tensor::ones([2, 4, 1], &device)) < 1e-4);
    }

    #[test]
    fn activation_names() {
        assert_eq!(FeedForwardActivation::from_hf_name("gelu"), Some(FeedForwardActivation::Gelu));
        assert_eq!(FeedForwardActivation::from_hf_name("gelu_new"), Some(FeedForwardActivation::GeluTanh));
        assert_eq!(FeedForwardActivation::from_hf_name("swish"), None);
    }
}
