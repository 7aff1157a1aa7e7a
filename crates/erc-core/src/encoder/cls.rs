//! Post-LayerNorm encoder layers over affine attention and the CLS encoder that summarises a
//! whole dialogue in one vector (first used by MALN's speaker-characteristic transformers).
//! Parameter names
//! follow the reference (`self_attention.{query,key,value}`, `fc.0`, `fc.2`, `norm1`, `norm2`,
//! `cls_token`, `pos_encoder`, `norm`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};

use crate::attention::{AffineAttention, AffineAttentionConfig};
use crate::import::{ImportError, TorchParams, import_layer_norm, import_linear, import_param};

/// A post-LayerNorm self-attention layer with a two-linear feed-forward block:
/// `H¹ = LN₁(Z + Drop(MHA(Z, Z)))`, `H² = LN₂(H¹ + Drop(W₂ ReLU(W₁ H¹ + b₁) + b₂))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// `self_attention`.
    pub self_attention: AffineAttention,
    /// `fc.0`: `w → d_ff`.
    pub ff_in: Linear,
    /// `fc.2`: `d_ff → w`.
    pub ff_out: Linear,
    /// `norm1`.
    pub norm1: LayerNorm,
    /// `norm2`.
    pub norm2: LayerNorm,
    dropout: Dropout,
}

/// Configuration of a [`EncoderLayer`]; [`EncoderLayerConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct EncoderLayerConfig {
    /// Width of the stream.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Dropout on the attention weights and both residual branches.
    pub dropout: f64,
}

impl EncoderLayerConfig {
    /// Fresh weights: width `width`, `heads` heads, feed-forward width `d_ff`, dropout `dropout`
    /// on the attention weights and on both residual branches.
    pub fn init(&self, device: &Device) -> EncoderLayer {
        let Self { width, heads, d_ff, dropout } = self.clone();
        let norm = || LayerNormConfig::new(width).init(device);
        EncoderLayer {
            self_attention: AffineAttentionConfig::new(width, heads, dropout).init(device),
            ff_in: LinearConfig::new(width, d_ff).init(device),
            ff_out: LinearConfig::new(d_ff, width).init(device),
            norm1: norm(),
            norm2: norm(),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }
}

impl EncoderLayer {
    /// `z`: `[B, L, w]` → `[B, L, w]`.
    pub fn forward(&self, z: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        self.forward_rows(z.clone(), z, key_padding)
    }

    /// The layer's output at some rows only: `rows` (`[B, Lq, w]`, rows of `z`) attend to all
    /// of `z` (`[B, L, w]`); the rest of the layer is row-wise, so this equals the matching
    /// rows of [`EncoderLayer::forward`] at a fraction of the cost. Returns `[B, Lq, w]`.
    pub fn forward_rows(&self, rows: Tensor<3>, z: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let attended = self.self_attention.forward(rows.clone(), z, key_padding);
        let h1 = self.norm1.forward(rows + self.dropout.forward(attended));
        let ff = self.ff_out.forward(relu(self.ff_in.forward(h1.clone())));
        self.norm2.forward(h1 + self.dropout.forward(ff))
    }

    /// Visits the layer's weights below `prefix`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            self_attention: self.self_attention.visit_torch(p, &format!("{prefix}.self_attention"))?,
            ff_in: import_linear(p, &format!("{prefix}.fc.0"), self.ff_in)?,
            ff_out: import_linear(p, &format!("{prefix}.fc.2"), self.ff_out)?,
            norm1: import_layer_norm(p, &format!("{prefix}.norm1"), self.norm1)?,
            norm2: import_layer_norm(p, &format!("{prefix}.norm2"), self.norm2)?,
            dropout: self.dropout,
        })
    }
}

/// MALN's speaker-characteristic encoder: a learned CLS vector prepended to a dialogue's
/// utterances, learned positions `0..=L`, an input LayerNorm, one [`EncoderLayer`] and an outer
/// residual; the CLS row is the dialogue's summary.
///
/// `Z⁰ = LN₀([c; X] + P[0..=L])`, `Z = Z⁰ + Layer(Z⁰)`, output `Z[:, 0]`.
#[derive(Module, Debug)]
pub struct ClsEncoder {
    /// `cls_token`: `[1, 1, w]`.
    pub cls: Param<Tensor<3>>,
    /// `pos_encoder`: `[max_positions, w]`.
    pub positions: Embedding,
    /// `norm`: the input LayerNorm.
    pub norm: LayerNorm,
    /// `encoder.layers.0`.
    pub layer: EncoderLayer,
}

/// Configuration of a [`ClsEncoder`]; [`ClsEncoderConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct ClsEncoderConfig {
    /// Width of the utterance features.
    pub width: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Rows of the learned position table (dialogues of up to `max_positions − 1` utterances).
    pub max_positions: usize,
    /// Dropout in the layer.
    pub dropout: f64,
}

impl ClsEncoderConfig {
    /// Fresh weights (CLS and positions `N(0, 1)`, as the reference initialises them).
    pub fn init(&self, device: &Device) -> ClsEncoder {
        let Self { width, d_ff, max_positions, dropout } = self.clone();
        ClsEncoder {
            cls: Param::from_tensor(Tensor::random([1, 1, width], Distribution::Normal(0.0, 1.0), device)),
            positions: EmbeddingConfig::new(max_positions, width).init(device),
            norm: LayerNormConfig::new(width).init(device),
            layer: EncoderLayerConfig::new(width, 1, d_ff, dropout).init(device),
        }
    }
}

impl ClsEncoder {
    /// Longest dialogue the position table covers (`max_positions − 1` utterances).
    pub fn max_len(&self) -> usize {
        self.positions.weight.dims()[0] - 1
    }

    /// `x`: `[B, L, w]` utterances (with `L` at most [`ClsEncoder::max_len`]); `key_padding`:
    /// `[B, L]`, true at padded steps (the CLS row is never masked). Returns `[B, w]`.
    pub fn forward(&self, x: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<2> {
        let [b, l, w] = x.dims();
        let device = x.device();
        let cls = self.cls.val().expand([b, 1, w]);
        let ids: Vec<i64> = (0..=l as i64).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, l + 1]), &device);
        let z0 = self.norm.forward(Tensor::cat(vec![cls, x], 1) + self.positions.forward(ids));
        let mask = key_padding.map(|m| {
            let never = Tensor::<2, Bool>::from_data(TensorData::new(vec![false; b], [b, 1]), &device);
            Tensor::cat(vec![never, m.clone()], 1)
        });
        // only the CLS row is read: queries, LayerNorms and the feed-forward block run on it alone
        let cls_row = z0.clone().slice([0..b, 0..1, 0..w]);
        let z = cls_row.clone() + self.layer.forward_rows(cls_row, z0, mask.as_ref());
        z.reshape([b, w])
    }

    /// Visits `prefix.cls_token`, `prefix.pos_encoder.weight`, `prefix.encoder.layers.0.*`, the
    /// unused `prefix.decoder.*` and `prefix.norm.*` (the reference's order).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let width = self.cls.dims()[2];
        let cls = import_param(p, &format!("{prefix}.cls_token"), self.cls, false)?;
        let mut positions = self.positions;
        positions.weight = import_param(p, &format!("{prefix}.pos_encoder.weight"), positions.weight, false)?;
        let layer = self.layer.visit_torch(p, &format!("{prefix}.encoder.layers.0"))?;
        p.unused(&format!("{prefix}.decoder.weight"), &[1, width])?;
        p.unused(&format!("{prefix}.decoder.bias"), &[1])?;
        let norm = import_layer_norm(p, &format!("{prefix}.norm"), self.norm)?;
        Ok(Self { cls, positions, norm, layer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::Distribution;

    #[test]
    fn forward_rows_equals_the_rows_of_the_full_layer() {
        let dev = device();
        let layer = EncoderLayerConfig::new(8, 2, 16, 0.0).init(&dev);
        let z = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &dev);
        let full = values(layer.forward(z.clone(), None).slice([0..2, 1..3, 0..8]));
        let rows = values(layer.forward_rows(z.clone().slice([0..2, 1..3, 0..8]), z, None));
        for (a, b) in full.iter().zip(&rows) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn cls_summary_ignores_masked_padding() {
        let dev = device();
        let encoder = ClsEncoderConfig::new(8, 16, 12, 0.0).init(&dev);
        let x = Tensor::<3>::random([1, 4, 8], Distribution::Normal(0.0, 1.0), &dev);
        let alone = values(encoder.forward(x.clone(), None));
        let padded = Tensor::cat(vec![x, Tensor::random([1, 3, 8], Distribution::Normal(2.0, 1.0), &dev)], 1);
        let mask = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![false, false, false, false, true, true, true], [1, 7]),
            &dev,
        );
        let masked = values(encoder.forward(padded, Some(&mask)));
        for (a, b) in alone.iter().zip(&masked) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
