//! The cross-modal transformer of MulT and FacialMMT (fairseq style, pre-LayerNorm): a query
//! sequence `X` attends over a memory sequence `Y` through a stack of layers with one weight
//! set, usable in both directions (`X → Y` and `Y → X`).
//!
//! ```text
//! X0 = √d·X + PE(X);  Y0 = √d·Y + PE(Y)                      (Y0 fixed for every layer)
//! per layer:  X ← X + MHA(LN_a(X), LN_a(Y0), LN_a(Y0))       (one LayerNorm for q, k and v)
//!             X ← X + W2 GELU(W1 LN_b(X) + b1) + b2
//! out = LN(X)
//! ```
//! `PE` is the sinusoidal table of tensor2tensor (`[sin | cos]`, row 0 the zero vector). Row `i`
//! takes position `i + 1` unless the first channel of its *unscaled* input is exactly 0, which
//! then takes position 0 (the reference's padding rule: zero-padded rows get no position).
//!
//! The reference masks no key; [`CrossModalTransformerConfig::key_padding`] turns masking on.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attention::MASKED_SCORE;
use crate::import::{ImportError, TorchParams, import_layer_norm, import_linear, import_param};

/// Sizes and behaviour of a [`CrossModalTransformer`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrossModalTransformerConfig {
    /// Model width `d`.
    pub width: usize,
    /// Attention heads; must divide `width`.
    pub heads: usize,
    /// Layers.
    pub layers: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Dropout on the attention weights (training only).
    pub attention_dropout: f64,
    /// LayerNorm epsilon (fairseq: 1e-5).
    pub layer_norm_eps: f64,
    /// Keep padded keys out of the softmax. The reference does not (`false` reproduces it).
    pub key_padding: bool,
}

impl CrossModalTransformerConfig {
    /// Fresh weights.
    pub fn init(&self, device: &Device) -> CrossModalTransformer {
        assert!(
            self.heads > 0 && self.width.is_multiple_of(self.heads),
            "heads ({}) must divide the width ({})",
            self.heads,
            self.width
        );
        CrossModalTransformer {
            layers: (0..self.layers).map(|_| CrossModalTransformerLayer::new(self, device)).collect(),
            norm: LayerNormConfig::new(self.width).with_epsilon(self.layer_norm_eps).init(device),
            width: self.width,
            key_padding: self.key_padding,
        }
    }
}

/// The tensor2tensor sinusoidal table in float32 arithmetic, `rows × width` row-major: row `p`
/// is `[sin(p·ω_0..h), cos(p·ω_0..h)]` with `ω_j = exp(−j·ln(10⁴)/(h − 1))`, `h = width/2`, an
/// extra zero column for odd widths, and row 0 all zero.
pub fn sinusoidal_table(rows: usize, width: usize) -> Vec<f32> {
    let half = width / 2;
    let step = (10000f64.ln() / (half.max(2) - 1) as f64) as f32;
    let freqs: Vec<f32> = (0..half).map(|j| (j as f32 * -step).exp()).collect();
    let mut table = vec![0f32; rows * width];
    for p in 1..rows {
        let row = &mut table[p * width..(p + 1) * width];
        for (j, &f) in freqs.iter().enumerate() {
            let angle = p as f32 * f;
            row[j] = angle.sin();
            row[half + j] = angle.cos();
        }
    }
    table
}

/// One pre-LayerNorm cross-modal layer (`layers.{i}` in the reference).
#[derive(Module, Debug)]
pub struct CrossModalTransformerLayer {
    /// `self_attn.in_proj_{weight,bias}`: `d → 3d`, `[q | k | v]`.
    pub in_proj: Linear,
    /// `self_attn.out_proj`.
    pub out_proj: Linear,
    /// `fc1`: `d → d_ff`.
    pub fc1: Linear,
    /// `fc2`: `d_ff → d`.
    pub fc2: Linear,
    /// `layer_norms.0`: before attention, shared by query, key and value.
    pub attention_norm: LayerNorm,
    /// `layer_norms.1`: before the feed-forward block.
    pub ff_norm: LayerNorm,
    attention_dropout: Dropout,
    #[module(skip)]
    heads: usize,
}

impl CrossModalTransformerLayer {
    fn new(config: &CrossModalTransformerConfig, device: &Device) -> Self {
        let d = config.width;
        let norm = || LayerNormConfig::new(d).with_epsilon(config.layer_norm_eps).init(device);
        Self {
            in_proj: LinearConfig::new(d, 3 * d).init(device),
            out_proj: LinearConfig::new(d, d).init(device),
            fc1: LinearConfig::new(d, config.d_ff).init(device),
            fc2: LinearConfig::new(config.d_ff, d).init(device),
            attention_norm: norm(),
            ff_norm: norm(),
            attention_dropout: DropoutConfig::new(config.attention_dropout).init(),
            heads: config.heads,
        }
    }

    /// `x`: `[B, Lq, d]`, `memory`: `[B, Lk, d]` (already scaled and positioned);
    /// `key_padding`: `[B, Lk]`, true at keys to ignore. Returns `[B, Lq, d]`.
    fn forward(&self, x: Tensor<3>, memory: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let [b, lq, d] = x.dims();
        let lk = memory.dims()[1];
        let h = self.heads;
        let dh = d / h;
        let weight = self.in_proj.weight.val(); // [d, 3d]
        let bias = self.in_proj.bias.as_ref().expect("in_proj has a bias").val(); // [3d]
        let project = |rows: Tensor<2>, part: usize| {
            let w = weight.clone().slice([0..d, part * d..(part + 1) * d]);
            let b = bias.clone().narrow(0, part * d, d).reshape([1, d]);
            rows.matmul(w) + b
        };
        let query = self.attention_norm.forward(x.clone()).reshape([b * lq, d]);
        let keys = self.attention_norm.forward(memory).reshape([b * lk, d]);
        let heads = |t: Tensor<2>, l: usize| t.reshape([b, l, h, dh]).swap_dims(1, 2); // [B, h, L, dh]
        let q = heads(project(query, 0).mul_scalar((dh as f64).powf(-0.5)), lq);
        let k = heads(project(keys.clone(), 1), lk);
        let v = heads(project(keys, 2), lk);
        let scores = q.matmul(k.swap_dims(2, 3)); // [B, h, Lq, Lk]
        let weights = match key_padding {
            Some(mask) => {
                let expanded = mask.clone().reshape([b, 1, 1, lk]).expand([b, h, lq, lk]);
                // a query whose keys are all padded gets no context rather than a uniform mix
                let any_key = mask.clone().bool_not().float().sum_dim(1).greater_elem(0.0).float(); // [B, 1]
                softmax(scores.mask_fill(expanded, MASKED_SCORE), 3) * any_key.reshape([b, 1, 1, 1])
            }
            None => softmax(scores, 3),
        };
        let context = self.attention_dropout.forward(weights).matmul(v).swap_dims(1, 2).reshape([b * lq, d]);
        let x = x + self.out_proj.forward(context).reshape([b, lq, d]);
        let ff = self.fc2.forward(gelu(self.fc1.forward(self.ff_norm.forward(x.clone()))));
        x + ff
    }

    fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let mut in_proj = self.in_proj;
        in_proj.weight = import_param(p, &format!("{prefix}.self_attn.in_proj_weight"), in_proj.weight, true)?;
        in_proj.bias = match in_proj.bias {
            Some(b) => Some(import_param(p, &format!("{prefix}.self_attn.in_proj_bias"), b, false)?),
            None => None,
        };
        Ok(Self {
            in_proj,
            out_proj: import_linear(p, &format!("{prefix}.self_attn.out_proj"), self.out_proj)?,
            fc1: import_linear(p, &format!("{prefix}.fc1"), self.fc1)?,
            fc2: import_linear(p, &format!("{prefix}.fc2"), self.fc2)?,
            attention_norm: import_layer_norm(p, &format!("{prefix}.layer_norms.0"), self.attention_norm)?,
            ff_norm: import_layer_norm(p, &format!("{prefix}.layer_norms.1"), self.ff_norm)?,
            ..self
        })
    }
}

/// A stack of [`CrossModalTransformerLayer`]s with the sinusoidal positions and a final LayerNorm.
#[derive(Module, Debug)]
pub struct CrossModalTransformer {
    /// `layers.{i}`.
    pub layers: Vec<CrossModalTransformerLayer>,
    /// `layer_norm`: after the last layer.
    pub norm: LayerNorm,
    #[module(skip)]
    width: usize,
    #[module(skip)]
    key_padding: bool,
}

impl CrossModalTransformer {
    /// The positional table rows this transformer adds for a sequence of length `len`
    /// (`len + 1` rows, row 0 the zero vector), `[len + 1, d]`.
    pub fn positional_table(&self, len: usize, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(sinusoidal_table(len + 1, self.width), [len + 1, self.width]), device)
    }

    /// `√d·x + PE(x)`, `[B, L, d]`: row `i` gets position `i + 1`, or none where `x[.., i, 0]`
    /// is exactly 0.
    fn embed(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let device = x.device();
        let table = self.positional_table(l, &device).slice([1..l + 1, 0..d]).reshape([1, l, d]);
        let positioned = x.clone().slice([0..b, 0..l, 0..1]).not_equal_elem(0.0).float(); // [B, L, 1]
        x.mul_scalar((d as f64).sqrt()) + table * positioned
    }

    /// `x` (`[B, Lq, d]`) attending over `memory` (`[B, Lk, d]`); `memory_padding` (`[B, Lk]`,
    /// true at padded keys) is used only when the configuration masks keys. Returns `[B, Lq, d]`.
    pub fn forward(&self, x: Tensor<3>, memory: Tensor<3>, memory_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let memory = self.embed(memory);
        let padding = if self.key_padding { memory_padding } else { None };
        let x = self.layers.iter().fold(self.embed(x), |x, layer| layer.forward(x, memory.clone(), padding));
        self.norm.forward(x)
    }

    /// Visits `prefix.version` and `prefix.embed_positions._float_tensor` (buffers the
    /// reference stores and never reads), `prefix.layers.{i}.*` and `prefix.layer_norm`, in the
    /// reference's `state_dict` order.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        p.unused(&format!("{prefix}.version"), &[1])?;
        p.unused(&format!("{prefix}.embed_positions._float_tensor"), &[1])?;
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| layer.visit_torch(p, &format!("{prefix}.layers.{i}")))
            .collect::<Result<_, _>>()?;
        let norm = import_layer_norm(p, &format!("{prefix}.layer_norm"), self.norm)?;
        Ok(Self { layers, norm, ..self })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::test_util::{device, values};

    fn config(key_padding: bool) -> CrossModalTransformerConfig {
        CrossModalTransformerConfig {
            width: 8,
            heads: 2,
            layers: 2,
            d_ff: 16,
            attention_dropout: 0.0,
            layer_norm_eps: 1e-5,
            key_padding,
        }
    }

    #[test]
    fn sinusoidal_rows_follow_the_formula_and_row_zero_is_zero() {
        let t = sinusoidal_table(3, 8);
        assert!(t[..8].iter().all(|&v| v == 0.0));
        // row 1: sin(ω_j), cos(ω_j) with ω_0 = 1, ω_3 = 1e-4
        assert!((t[8] - 1f32.sin()).abs() < 1e-7 && (t[8 + 4] - 1f32.cos()).abs() < 1e-7);
        assert!((t[8 + 3] - 1e-4f32.sin()).abs() < 1e-9);
        assert!((t[16 + 1] - (2.0 * (-(10000f32.ln()) / 3.0).exp()).sin()).abs() < 1e-6);
    }

    /// With key masking, padded memory rows cannot change the result; without it they do.
    #[test]
    fn key_padding_hides_padded_memory_rows_only_when_enabled() {
        let device = device();
        let x = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let memory = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 1.0), &device);
        let junk = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 1.0), &device);
        let padded = Tensor::cat(vec![memory.clone(), junk], 1);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, true, true], [1, 4]), &device);
        let masked = config(true).init(&device);
        let alone = values(masked.forward(x.clone(), memory.clone(), None));
        let with_junk = values(masked.forward(x.clone(), padded.clone(), Some(&mask)));
        assert!(alone.iter().zip(&with_junk).all(|(a, b)| (a - b).abs() < 1e-5));
        let reference = CrossModalTransformer { key_padding: false, ..masked };
        let unmasked = values(reference.forward(x, padded, Some(&mask)));
        assert!(alone.iter().zip(&unmasked).any(|(a, b)| (a - b).abs() > 1e-4));
    }

    /// A zero query row gets no position: its embedding stays exactly zero before the layers.
    #[test]
    fn zero_rows_take_position_zero() {
        let device = device();
        let transformer = config(false).init(&device);
        let mut rows = vec![0.5f32; 8];
        rows.extend([0.0; 8]);
        let x = Tensor::<3>::from_data(TensorData::new(rows, [1, 2, 8]), &device);
        let embedded = values(transformer.embed(x));
        assert!(embedded[8..].iter().all(|&v| v == 0.0));
        let table = sinusoidal_table(2, 8);
        let scale = 8f32.sqrt();
        assert!((0..8).all(|c| (embedded[c] - (0.5 * scale + table[8 + c])).abs() < 1e-6));
    }
}
