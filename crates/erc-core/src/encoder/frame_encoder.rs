//! A sequence encoder for per-utterance frame sequences (audio frames, face embeddings): a
//! linear input projection, learned absolute positions and a stack of post-LayerNorm
//! [`BertLayer`](crate::encoder::BertLayer)s (FacialMMT's audio and vision encoders are two).
//!
//! `X = F W + b + P[0:L]`, then every layer with the sequence's key mask. No input dropout and
//! no input LayerNorm.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Distribution, Tensor};

use crate::encoder::{BertEncoder, BertEncoderConfig, BertLayerConfig, BertLayerNames};
use crate::import::{ImportError, TorchParams, import_linear, import_param};

/// Linear projection + learned positions + BERT-style layers, `[B, L, in] → [B, L, d]`.
#[derive(Module, Debug)]
pub struct FrameEncoder {
    /// The input projection, `in → d`.
    pub input: Linear,
    /// Learned positions `[max_len, d]` (`position_embeddings.weight`), `N(0, 1)` at init as
    /// PyTorch's `nn.Embedding`.
    pub positions: Param<Tensor<2>>,
    /// The layers.
    pub encoder: BertEncoder,
}

/// Configuration of a [`FrameEncoder`]; [`FrameEncoderConfig::init`] builds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameEncoderConfig {
    /// Width of a frame.
    pub input: usize,
    /// Frames per sequence at most (rows of the position table).
    pub max_len: usize,
    /// Sizes of each layer.
    pub layer: BertLayerConfig,
    /// Layers.
    pub layers: usize,
}

impl FrameEncoderConfig {
    /// A configuration of these sizes.
    pub fn new(input: usize, max_len: usize, layer: BertLayerConfig, layers: usize) -> Self {
        Self { input, max_len, layer, layers }
    }

    /// Fresh weights: frames of width `input` at most `max_len` long, `layers` layers.
    pub fn init(&self, device: &Device) -> FrameEncoder {
        let Self { input, max_len, layer, layers } = self.clone();
        FrameEncoder {
            input: LinearConfig::new(input, layer.width).init(device),
            positions: Param::from_tensor(Tensor::random(
                [max_len, layer.width],
                Distribution::Normal(0.0, 1.0),
                device,
            )),
            encoder: BertEncoderConfig::new(layer, layers).init(device),
        }
    }
}

impl FrameEncoder {
    /// The longest sequence the position table covers.
    pub fn max_len(&self) -> usize {
        self.positions.dims()[0]
    }

    /// `frames`: `[B, L, in]` with `L ≤ max_len`; `padding`: `[B, L]`, true at padded frames.
    /// Returns `[B, L, d]`.
    pub fn forward(&self, frames: Tensor<3>, padding: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let [b, l, input] = frames.dims();
        assert!(l <= self.max_len(), "{l} frames, the position table holds {}", self.max_len());
        let projected = self.input.forward(frames.reshape([b * l, input]));
        let d = projected.dims()[1];
        let positions = self.positions.val().slice([0..l, 0..d]).reshape([1, l, d]);
        self.encoder.forward(projected.reshape([b, l, d]) + positions, padding)
    }

    /// Visits `linear.{weight,bias}`, then `encoder.position_embeddings.weight` and
    /// `encoder.layer.{i}.*` under `names`.
    pub fn visit_torch(
        self,
        p: &mut impl TorchParams,
        linear: &str,
        encoder: &str,
        names: &BertLayerNames,
    ) -> Result<Self, ImportError> {
        Ok(Self {
            input: import_linear(p, linear, self.input)?,
            positions: import_param(p, &format!("{encoder}.position_embeddings.weight"), self.positions, false)?,
            encoder: self.encoder.visit_torch_named(p, encoder, names)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::encoder::KeyMasking;
    use crate::test_util::{device, small_bert_layer, values};

    /// Positions matter (the same frame at two positions encodes differently), and with the
    /// additive mask a fully padded sequence still gives finite values.
    #[test]
    fn positions_distinguish_frames_and_fully_masked_rows_stay_finite() {
        let device = device();
        let encoder = FrameEncoderConfig::new(3, 4, small_bert_layer(KeyMasking::Additive(-10000.0)), 2).init(&device);
        let frames = Tensor::<3>::ones([1, 2, 3], &device);
        let out = values(encoder.forward(frames.clone(), None));
        assert!(out[..8].iter().zip(&out[8..]).any(|(a, b)| (a - b).abs() > 1e-3));
        let all_padded = Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true], [1, 2]), &device);
        assert!(values(encoder.forward(frames, Some(&all_padded))).iter().all(|v| v.is_finite()));
    }
}
