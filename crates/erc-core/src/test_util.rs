//! Helpers shared by the unit tests of this crate.

use burn::tensor::{Device, Tensor};

use crate::encoder::{BertLayerConfig, FeedForwardActivation, KeyMasking};

/// The first compiled backend's device.
pub fn device() -> Device {
    crate::BackendKind::default_compiled().expect("a compiled backend").device().expect("a device")
}

/// A tensor's values on the host, row-major.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// A small BERT-style layer (width 8, 2 heads, feed-forward 16, GELU, no dropout) masking keys
/// as `masking` says.
pub fn small_bert_layer(masking: KeyMasking) -> BertLayerConfig {
    BertLayerConfig {
        width: 8,
        heads: 2,
        d_ff: 16,
        layer_norm_eps: 1e-12,
        dropout: 0.0,
        activation: FeedForwardActivation::Gelu,
        masking,
    }
}
