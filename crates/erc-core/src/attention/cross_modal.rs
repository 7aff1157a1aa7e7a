//! Cross-modal attention: a query stream attends to two other modalities' streams.
//!
//! [`CrossModalLayer`] is MultiEMO's `MultiAttnLayer` (post-LayerNorm):
//! `X ← LN₁(X + MHA₁(X, A))`, `X ← LN₂(X + MHA₂(X, B))`, `X ← LN₃(X + W₂ ReLU(W₁X + b₁) + b₂)`,
//! and [`CrossModalStack`] stacks such layers with the same `A` and `B` for every layer. Heads
//! are stored one by one (the reference's parameter layout) and fused into one matrix product
//! per projection when run.
//!
//! Streams are `[R, d]` row matrices laid out by a [`StreamLayout`]: either every position of
//! the padded `[B, T]` grid, or only the real utterances (packed), in which case every per-row
//! product (projections, feed-forward, norms) skips padding and padded steps are masked out of
//! every softmax as keys.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::attention_weights;
use crate::batch::{index_tensor, packed_rows, utterance_positions};
use crate::import::{ImportError, TorchParams, import_layer_norm, import_linear};

/// How a stream's rows map onto the padded `[B, T]` grid of a batch.
#[derive(Debug, Clone)]
pub struct StreamLayout {
    batch: usize,
    steps: usize,
    /// Packed rows: `[B·T]` row of each grid position (padding → row 0) and `[N]` grid position
    /// of each row. `None`: the rows are the grid itself.
    packed: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    /// `[B, T]`, true at padded steps: keys left out of every softmax.
    key_padding: Option<Tensor<2, Bool>>,
    /// Grid position (`b·T + t`) of each row, on the host.
    positions: Vec<usize>,
}

impl StreamLayout {
    /// One row per position of the `[B, T]` grid; attention reads every step as a key (the
    /// reference's computation).
    pub fn grid(batch: usize, steps: usize) -> Self {
        Self { batch, steps, packed: None, key_padding: None, positions: (0..batch * steps).collect() }
    }

    /// One row per real utterance of dialogues of `lengths` (dialogue by dialogue); padded
    /// steps are masked out as keys.
    pub fn packed(lengths: &[usize], device: &Device) -> Self {
        let steps = lengths.iter().copied().max().unwrap_or(0);
        let positions = utterance_positions(lengths, steps);
        let mask: Vec<bool> = lengths.iter().flat_map(|&n| (0..steps).map(move |t| t >= n)).collect();
        Self {
            batch: lengths.len(),
            steps,
            packed: Some((index_tensor(&packed_rows(lengths, steps), device), index_tensor(&positions, device))),
            key_padding: Some(Tensor::from_data(TensorData::new(mask, [lengths.len(), steps]), device)),
            positions,
        }
    }

    /// Number of rows `R`.
    pub fn num_rows(&self) -> usize {
        self.positions.len()
    }

    /// Grid position (`b·T + t`) of each row.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// `[R, k]` rows on the grid `[B, T, k]` (padded positions of packed rows repeat row 0).
    pub fn to_grid(&self, rows: Tensor<2>) -> Tensor<3> {
        let k = rows.dims()[1];
        let rows = match &self.packed {
            Some((unpack, _)) => rows.select(0, unpack.clone()),
            None => rows,
        };
        rows.reshape([self.batch, self.steps, k])
    }

    /// `[B, T, k]` on the grid as the layout's `[R, k]` rows.
    pub fn to_rows(&self, grid: Tensor<3>) -> Tensor<2> {
        let k = grid.dims()[2];
        let flat = grid.reshape([self.batch * self.steps, k]);
        match &self.packed {
            Some((_, pack)) => flat.select(0, pack.clone()),
            None => flat,
        }
    }
}

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

/// Rows `[R, d] · [d, H·d_h] + b` on the grid, split into heads: `[B, H, T, d_h]`.
fn project_heads(
    x: Tensor<2>,
    (weight, bias): (Tensor<2>, Tensor<1>),
    heads: usize,
    layout: &StreamLayout,
) -> Tensor<4> {
    let width = weight.dims()[1];
    let y = layout.to_grid(x.matmul(weight) + bias.unsqueeze::<2>());
    y.reshape([layout.batch, layout.steps, heads, width / heads]).swap_dims(1, 2)
}

/// Configuration of a [`CrossModalAttention`]; [`CrossModalAttentionConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct CrossModalAttentionConfig {
    /// Width of the query and key/value streams.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of each head.
    pub d_head: usize,
}

impl CrossModalAttentionConfig {
    /// Fresh weights: `heads` heads of width `d_head` over `d_model`-wide streams.
    pub fn init(&self, device: &Device) -> CrossModalAttention {
        let Self { d_model, heads, d_head } = self.clone();
        let linear = || LinearConfig::new(d_model, d_head).init(device);
        CrossModalAttention {
            heads: (0..heads).map(|_| AttentionHead { query: linear(), key: linear(), value: linear() }).collect(),
            projection: LinearConfig::new(heads * d_head, d_model).init(device),
        }
    }
}

impl CrossModalAttention {
    /// Attends the rows `x` (`[R, d]`) to the rows `context` (`[R, d]`) of the same dialogues:
    /// each query attends to its own dialogue's steps. Returns `[R, d]`.
    pub fn forward(&self, x: Tensor<2>, context: Tensor<2>, layout: &StreamLayout) -> Tensor<2> {
        let heads = self.heads.len();
        let [b, t] = [layout.batch, layout.steps];
        let q = project_heads(x, fuse(&self.heads, |h| &h.query), heads, layout);
        let k = project_heads(context.clone(), fuse(&self.heads, |h| &h.key), heads, layout);
        let v = project_heads(context, fuse(&self.heads, |h| &h.value), heads, layout);
        let d_head = q.dims()[3];
        let context = attention_weights(q, k, layout.key_padding.as_ref()).matmul(v); // [B, H, T, d_h]
        let context = layout.to_rows(context.swap_dims(1, 2).reshape([b, t, heads * d_head]));
        self.projection.forward(context)
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
        let attention = || CrossModalAttentionConfig::new(d, config.heads, d / config.heads).init(device);
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

    /// `x`: `[R, d]` query stream; `first`, `second`: `[R, d]` context streams.
    pub fn forward(&self, x: Tensor<2>, first: Tensor<2>, second: Tensor<2>, layout: &StreamLayout) -> Tensor<2> {
        let x = self.norm_first.forward(x.clone() + self.attend_first.forward(x, first, layout));
        let x = self.norm_second.forward(x.clone() + self.attend_second.forward(x, second, layout));
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
    /// Runs every layer on the query rows `x` (`[R, d]`) with the same context rows; returns
    /// each layer's output `[R, d]` (the last is the stack's output).
    pub fn forward(&self, x: Tensor<2>, first: Tensor<2>, second: Tensor<2>, layout: &StreamLayout) -> Vec<Tensor<2>> {
        let mut outputs = Vec::with_capacity(self.layers.len());
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(x, first.clone(), second.clone(), layout);
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
    use burn::tensor::Distribution;
    use burn::tensor::activation::softmax;

    #[test]
    fn packed_rows_ignore_padding_and_fused_heads_match_one_head_at_a_time() {
        let dev = device();
        let stack = CrossModalConfig::new(8, 2, 16, 2).init(&dev);
        let rand = |l: usize| Tensor::<2>::random([l, 8], Distribution::Normal(0.0, 1.0), &dev);
        let (x, a, b) = (rand(3), rand(3), rand(3));
        let alone = values(stack.forward(x.clone(), a.clone(), b.clone(), &StreamLayout::grid(1, 3)).pop().unwrap());
        // the same dialogue packed beside a longer one: its rows are unchanged
        let other = || rand(5);
        let packed = StreamLayout::packed(&[5, 3], &dev);
        let cat = |o: Tensor<2>, t: &Tensor<2>| Tensor::cat(vec![o, t.clone()], 0);
        let out = stack.forward(cat(other(), &x), cat(other(), &a), cat(other(), &b), &packed).pop().unwrap();
        let rows = values(out.slice([5..8, 0..8]));
        for (p, q) in alone.iter().zip(&rows) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
        assert_eq!(packed.positions(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(StreamLayout::packed(&[2, 3], &dev).positions(), &[0, 1, 3, 4, 5]);

        // one attention block against its heads computed one by one
        let attn = &stack.layers[0].attend_first;
        let fused = values(attn.forward(x.clone(), a.clone(), &StreamLayout::grid(1, 3)));
        let per_head: Vec<Tensor<2>> = attn
            .heads
            .iter()
            .map(|h| {
                let q = h.query.forward(x.clone());
                let k = h.key.forward(a.clone());
                let v = h.value.forward(a.clone());
                softmax(q.matmul(k.transpose()).div_scalar(2.0), 1).matmul(v) // scale √d_head = √4
            })
            .collect();
        let manual = values(attn.projection.forward(Tensor::cat(per_head, 1)));
        for (p, q) in fused.iter().zip(&manual) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}
