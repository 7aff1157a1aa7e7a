//! Two-stream cross-attention fusion: each of two streams attends to the other, and the two
//! results side by side go through self-attention and a feed-forward block. First used by MALN
//! to fuse text with the audio-visual stream (`L_AV`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};

use crate::attention::{AffineAttention, AffineAttentionConfig};
use crate::import::{ImportError, TorchParams, import_layer_norm, import_linear};

/// One layer of two-stream cross-attention fusion (MALN's `L_AV`: text and the audio-visual
/// stream): each stream attends to the other, the two results side by side go through post-LN
/// self-attention and a one-linear feed-forward block.
///
/// `Y⁰ = [MHA(T, N); MHA(N, T)]`, `Y¹ = LN₁(Y⁰ + Drop(MHA(Y⁰, Y⁰)))`,
/// `Y² = LN₂(Y¹ + Drop(ReLU(W Y¹ + b)))`; streams `h` wide, output `2h`.
#[derive(Module, Debug)]
pub struct CrossFusionLayer {
    /// `src_cross_attention`: text attends to audio-visual (`h` wide).
    pub text_to_av: AffineAttention,
    /// `context_cross_attention`: audio-visual attends to text.
    pub av_to_text: AffineAttention,
    /// `self_attention` over `[U₁; U₂]` (`2h` wide).
    pub self_attention: AffineAttention,
    /// `fc.0`: `2h → 2h`.
    pub ff: Linear,
    /// `norm1`.
    pub norm1: LayerNorm,
    /// `norm2`.
    pub norm2: LayerNorm,
    dropout: Dropout,
}

/// Configuration of a [`CrossFusionLayer`]; [`CrossFusionLayerConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct CrossFusionLayerConfig {
    /// Width `h` of each stream (the output is `2h`).
    pub h: usize,
    /// Heads of every attention.
    pub heads: usize,
    /// Dropout on attention weights and residual branches.
    pub dropout: f64,
}

impl CrossFusionLayerConfig {
    /// Fresh weights for `h`-wide streams, `heads` heads in every attention, dropout `dropout`
    /// on attention weights and residual branches.
    pub fn init(&self, device: &Device) -> CrossFusionLayer {
        let Self { h, heads, dropout } = self.clone();
        let norm = || LayerNormConfig::new(2 * h).init(device);
        CrossFusionLayer {
            text_to_av: AffineAttentionConfig::new(h, heads, dropout).init(device),
            av_to_text: AffineAttentionConfig::new(h, heads, dropout).init(device),
            self_attention: AffineAttentionConfig::new(2 * h, heads, dropout).init(device),
            ff: LinearConfig::new(2 * h, 2 * h).init(device),
            norm1: norm(),
            norm2: norm(),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }
}

impl CrossFusionLayer {
    /// `text`, `av`: `[B, L, h]` → `[B, L, 2h]`.
    pub fn forward(&self, text: Tensor<3>, av: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let u1 = self.text_to_av.forward(text.clone(), av.clone(), key_padding);
        let u2 = self.av_to_text.forward(av, text, key_padding);
        let y0 = Tensor::cat(vec![u1, u2], 2);
        let attended = self.self_attention.forward(y0.clone(), y0.clone(), key_padding);
        let y1 = self.norm1.forward(y0 + self.dropout.forward(attended));
        let ff = self.dropout.forward(relu(self.ff.forward(y1.clone())));
        self.norm2.forward(y1 + ff)
    }

    /// Visits the layer's weights below `prefix`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            text_to_av: self.text_to_av.visit_torch(p, &format!("{prefix}.src_cross_attention"))?,
            av_to_text: self.av_to_text.visit_torch(p, &format!("{prefix}.context_cross_attention"))?,
            self_attention: self.self_attention.visit_torch(p, &format!("{prefix}.self_attention"))?,
            ff: import_linear(p, &format!("{prefix}.fc.0"), self.ff)?,
            norm1: import_layer_norm(p, &format!("{prefix}.norm1"), self.norm1)?,
            norm2: import_layer_norm(p, &format!("{prefix}.norm2"), self.norm2)?,
            dropout: self.dropout,
        })
    }
}

/// MALN's stack of [`CrossFusionLayer`]s (`L_AV.layers.{j}`): the text and audio-visual inputs
/// of layer `j + 1` are those of layer `j` plus the first and the last `h` channels of its
/// output; the stack returns the last layer's output `[B, L, 2h]`.
#[derive(Module, Debug)]
pub struct CrossFusion {
    /// The layers, at least one.
    pub layers: Vec<CrossFusionLayer>,
}

/// Configuration of a [`CrossFusion`]; [`CrossFusionConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct CrossFusionConfig {
    /// Width `h` of each stream (the output is `2h`).
    pub h: usize,
    /// Heads of every attention.
    pub heads: usize,
    /// Layers (positive).
    pub layers: usize,
    /// Dropout on attention weights and residual branches.
    pub dropout: f64,
}

impl CrossFusionConfig {
    /// `layers` fresh layers (see [`CrossFusionLayerConfig::init`]); `layers` must be positive.
    pub fn init(&self, device: &Device) -> CrossFusion {
        let Self { h, heads, layers, dropout } = self.clone();
        assert!(layers > 0, "a fusion stack needs at least one layer");
        CrossFusion {
            layers: (0..layers).map(|_| CrossFusionLayerConfig::new(h, heads, dropout).init(device)).collect(),
        }
    }
}

impl CrossFusion {
    /// `text`, `av`: `[B, L, h]` → `[B, L, 2h]`.
    pub fn forward(&self, text: Tensor<3>, av: Tensor<3>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let [b, l, h] = text.dims();
        let (mut text, mut av) = (text, av);
        let last = self.layers.len() - 1;
        let mut out = None;
        for (j, layer) in self.layers.iter().enumerate() {
            let y = layer.forward(text.clone(), av.clone(), key_padding);
            if j < last {
                text = text + y.clone().slice([0..b, 0..l, 0..h]);
                av = av + y.clone().slice([0..b, 0..l, h..2 * h]);
            }
            out = Some(y);
        }
        out.expect("at least one layer")
    }

    /// Visits `prefix.layers.{j}.*`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(j, layer)| layer.visit_torch(p, &format!("{prefix}.layers.{j}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { layers })
    }
}
