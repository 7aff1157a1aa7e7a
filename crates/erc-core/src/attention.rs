//! Cross-modal attention: a query stream attends to two other modalities' streams.
//!
//! [`CrossModalLayer`] is MultiEMO's `MultiAttnLayer` (post-LayerNorm):
//! `X ← LN₁(X + MHA₁(X, A))`, `X ← LN₂(X + MHA₂(X, B))`, `X ← LN₃(X + W₂ ReLU(W₁X + b₁) + b₂)`,
//! and [`CrossModalStack`] stacks such layers with the same `A` and `B` for every layer. Heads
//! are stored one by one (the reference's parameter layout) and fused into one matrix product
//! per projection when run. An optional key padding mask keeps padded context steps out of the
//! softmax.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Bool, Device, Tensor};

use crate::import::{ImportError, TorchParams, import_linear, import_param};

/// Score given to masked keys: far below any real score, yet finite (no `inf − inf`).
const MASKED_SCORE: f32 = -1.0e30;

/// One attention head's query, key and value projections (`d_model → d_head` each).
#[derive(Module, Debug)]
pub struct AttentionHead {
    /// `query_matrix`.
    pub query: Linear,
    /// `key_matrix`.
    pub key: Linear,
    /// `value_matrix`.
    pub value: Linear,
}

/// Multi-head attention of a query stream over a context stream (keys and values both from
/// the context), heads concatenated in order and projected back to `d_model`.
#[derive(Module, Debug)]
pub struct CrossModalAttention {
    /// The heads, in order.
    pub heads: Vec<AttentionHead>,
    /// `projection_matrix`: `H·d_head → d_model`.
    pub projection: Linear,
}

/// The heads' `(weight [d, H·d_h], bias [H·d_h])` of one projection, fused in head order.
fn fuse(heads: &[AttentionHead], pick: impl Fn(&AttentionHead) -> &Linear) -> (Tensor<2>, Tensor<1>) {
    let weight = Tensor::cat(heads.iter().map(|h| pick(h).weight.val()).collect(), 1);
    let bias = Tensor::cat(heads.iter().map(|h| pick(h).bias.as_ref().expect("heads have biases").val()).collect(), 0);
    (weight, bias)
}

/// `[B, L, d] · [d, H·d_h] + b`, split into heads: `[B, H, L, d_h]`.
fn project_heads(x: Tensor<3>, (weight, bias): (Tensor<2>, Tensor<1>), heads: usize) -> Tensor<4> {
    let [b, l, _] = x.dims();
    let width = weight.dims()[1];
    let y = x.matmul(weight.unsqueeze::<3>()) + bias.unsqueeze::<3>();
    y.reshape([b, l, heads, width / heads]).swap_dims(1, 2)
}

impl CrossModalAttention {
    /// Fresh weights: `heads` heads of width `d_head` over `d_model`-wide streams.
    pub fn new(d_model: usize, heads: usize, d_head: usize, device: &Device) -> Self {
        let linear = || LinearConfig::new(d_model, d_head).init(device);
        Self {
            heads: (0..heads).map(|_| AttentionHead { query: linear(), key: linear(), value: linear() }).collect(),
            projection: LinearConfig::new(heads * d_head, d_model).init(device),
        }
    }

    /// Attends `x` (`[B, Lq, d]`) to `context` (`[B, Lk, d]`); `key_padding` (`[B, Lk]`, true at
    /// padded steps) removes context steps from every softmax. Returns `[B, Lq, d]`.
    pub fn forward(&self, x: Tensor<3>, context: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let heads = self.heads.len();
        let [b, lq, _] = x.dims();
        let lk = context.dims()[1];
        let q = project_heads(x, fuse(&self.heads, |h| &h.query), heads);
        let k = project_heads(context.clone(), fuse(&self.heads, |h| &h.key), heads);
        let v = project_heads(context, fuse(&self.heads, |h| &h.value), heads);
        let d_head = q.dims()[3];
        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d_head as f64).sqrt()); // [B, H, Lq, Lk]
        if let Some(mask) = key_padding {
            let mask = mask.clone().reshape([b, 1, 1, lk]).expand([b, heads, lq, lk]);
            scores = scores.mask_fill(mask, MASKED_SCORE);
        }
        let context = softmax(scores, 3).matmul(v); // [B, H, Lq, d_h]
        self.projection.forward(context.swap_dims(1, 2).reshape([b, lq, heads * d_head]))
    }

    /// Visits the weights under the reference's names below `prefix`
    /// (`prefix.attention_heads.{h}.{query,key,value}_matrix.*`, `prefix.projection_matrix.*`).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let mut heads = Vec::with_capacity(self.heads.len());
        for (i, head) in self.heads.into_iter().enumerate() {
            let name = |m: &str| format!("{prefix}.attention_heads.{i}.{m}_matrix");
            heads.push(AttentionHead {
                query: import_linear(p, &name("query"), head.query)?,
                key: import_linear(p, &name("key"), head.key)?,
                value: import_linear(p, &name("value"), head.value)?,
            });
        }
        let projection = import_linear(p, &format!("{prefix}.projection_matrix"), self.projection)?;
        Ok(Self { heads, projection })
    }
}

/// Visits a LayerNorm as PyTorch's `prefix.weight` and `prefix.bias`.
pub fn import_layer_norm(p: &mut impl TorchParams, prefix: &str, norm: LayerNorm) -> Result<LayerNorm, ImportError> {
    let mut norm = norm;
    norm.gamma = import_param(p, &format!("{prefix}.weight"), norm.gamma, false)?;
    norm.beta = match norm.beta.take() {
        Some(beta) => Some(import_param(p, &format!("{prefix}.bias"), beta, false)?),
        None => None,
    };
    Ok(norm)
}

/// Configuration of a [`CrossModalStack`].
#[derive(Config, Debug)]
pub struct CrossModalConfig {
    /// Width of every stream.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Hidden width of the feed-forward block.
    pub d_ff: usize,
    /// Layers in the stack.
    pub layers: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
}

/// One post-LayerNorm cross-modal layer: attend to `A`, attend to `B`, feed forward.
#[derive(Module, Debug)]
pub struct CrossModalLayer {
    /// `attn_1`: attention over the first context.
    pub attend_first: CrossModalAttention,
    /// `add_norm_1`.
    pub norm_first: LayerNorm,
    /// `attn_2`: attention over the second context.
    pub attend_second: CrossModalAttention,
    /// `add_norm_2`.
    pub norm_second: LayerNorm,
    /// `ff.linear_W1`: `d → d_ff`.
    pub ff_in: Linear,
    /// `ff.linear_W2`: `d_ff → d`.
    pub ff_out: Linear,
    /// `add_norm_3`.
    pub norm_ff: LayerNorm,
}

impl CrossModalLayer {
    fn new(config: &CrossModalConfig, device: &Device) -> Self {
        let d = config.d_model;
        let attention = || CrossModalAttention::new(d, config.heads, d / config.heads, device);
        let norm = || LayerNormConfig::new(d).with_epsilon(config.layer_norm_eps).init(device);
        Self {
            attend_first: attention(),
            norm_first: norm(),
            attend_second: attention(),
            norm_second: norm(),
            ff_in: LinearConfig::new(d, config.d_ff).init(device),
            ff_out: LinearConfig::new(config.d_ff, d).init(device),
            norm_ff: norm(),
        }
    }

    /// `x`: `[B, L, d]` query stream; `first`, `second`: `[B, L, d]` context streams.
    pub fn forward(
        &self,
        x: Tensor<3>,
        first: Tensor<3>,
        second: Tensor<3>,
        key_padding: Option<&Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let x = self.norm_first.forward(x.clone() + self.attend_first.forward(x, first, key_padding));
        let x = self.norm_second.forward(x.clone() + self.attend_second.forward(x, second, key_padding));
        let ff = self.ff_out.forward(relu(self.ff_in.forward(x.clone())));
        self.norm_ff.forward(x + ff)
    }

    fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            attend_first: self.attend_first.visit_torch(p, &format!("{prefix}.attn_1"))?,
            norm_first: import_layer_norm(p, &format!("{prefix}.add_norm_1.layer_norm"), self.norm_first)?,
            attend_second: self.attend_second.visit_torch(p, &format!("{prefix}.attn_2"))?,
            norm_second: import_layer_norm(p, &format!("{prefix}.add_norm_2.layer_norm"), self.norm_second)?,
            ff_in: import_linear(p, &format!("{prefix}.ff.linear_W1"), self.ff_in)?,
            ff_out: import_linear(p, &format!("{prefix}.ff.linear_W2"), self.ff_out)?,
            norm_ff: import_layer_norm(p, &format!("{prefix}.add_norm_3.layer_norm"), self.norm_ff)?,
        })
    }
}

/// A stack of [`CrossModalLayer`]s fusing one modality with two others (MultiEMO's `MultiAttn`).
#[derive(Module, Debug)]
pub struct CrossModalStack {
    /// The layers, first to last.
    pub layers: Vec<CrossModalLayer>,
}

impl CrossModalConfig {
    /// Builds a freshly initialised stack.
    pub fn init(&self, device: &Device) -> CrossModalStack {
        CrossModalStack { layers: (0..self.layers).map(|_| CrossModalLayer::new(self, device)).collect() }
    }
}

impl CrossModalStack {
    /// Runs every layer on the query stream `x` with the same contexts; returns each layer's
    /// output `[B, L, d]` (the last is the stack's output).
    pub fn forward(
        &self,
        x: Tensor<3>,
        first: Tensor<3>,
        second: Tensor<3>,
        key_padding: Option<&Tensor<2, Bool>>,
    ) -> Vec<Tensor<3>> {
        let mut outputs = Vec::with_capacity(self.layers.len());
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(x, first.clone(), second.clone(), key_padding);
            outputs.push(x.clone());
        }
        outputs
    }

    /// Visits the weights under the reference's names (`prefix.multiattn_layers.{l}.…`).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.into_iter().enumerate() {
            layers.push(layer.visit_torch(p, &format!("{prefix}.multiattn_layers.{l}"))?);
        }
        Ok(Self { layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn masked_keys_are_ignored_and_fused_heads_match_one_head_at_a_time() {
        let dev = device();
        let stack = CrossModalConfig::new(8, 2, 16, 2).init(&dev);
        let rand = |l: usize| Tensor::<3>::random([1, l, 8], Distribution::Normal(0.0, 1.0), &dev);
        let (x, a, b) = (rand(3), rand(3), rand(3));
        let alone = values(stack.forward(x.clone(), a.clone(), b.clone(), None).pop().unwrap());
        // the same dialogue with two padded steps of garbage, masked
        let pad =
            |t: Tensor<3>| Tensor::cat(vec![t, Tensor::random([1, 2, 8], Distribution::Normal(3.0, 2.0), &dev)], 1);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, false, true, true], [1, 5]), &dev);
        let padded = stack.forward(pad(x.clone()), pad(a.clone()), pad(b.clone()), Some(&mask)).pop().unwrap();
        let head = values(padded.slice([0..1, 0..3, 0..8]));
        for (p, q) in alone.iter().zip(&head) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }

        // one attention block against its heads computed one by one
        let attn = &stack.layers[0].attend_first;
        let fused = values(attn.forward(x.clone(), a.clone(), None));
        let per_head: Vec<Tensor<3>> = attn
            .heads
            .iter()
            .map(|h| {
                let q = h.query.forward(x.clone());
                let k = h.key.forward(a.clone());
                let v = h.value.forward(a.clone());
                softmax(q.matmul(k.swap_dims(1, 2)).div_scalar(2.0), 2).matmul(v) // scale √d_head = √4
            })
            .collect();
        let manual = values(attn.projection.forward(Tensor::cat(per_head, 2)));
        for (p, q) in fused.iter().zip(&manual) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}
