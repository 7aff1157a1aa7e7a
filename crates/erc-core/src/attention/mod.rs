//! Attention layers: scaled dot-product attention shared by every kind, cross-modal layers and
//! stacks where one stream attends to two others ([`cross_modal`]), the pre-LN cross-modal
//! transformer ([`crossmodal_transformer`]), affine attention without output projection
//! ([`affine`]), two-stream cross-attention fusion ([`cross_fusion`]) and additive-attention
//! pooling ([`pooling`]).

pub mod affine;
pub mod cross_fusion;
pub mod cross_modal;
pub mod crossmodal_transformer;
pub mod pooling;

pub use affine::*;
pub use cross_fusion::*;
pub use cross_modal::*;
pub use crossmodal_transformer::*;
pub use pooling::*;

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

/// Score given to masked keys (and other excluded pairs): far below any real score, yet finite,
/// so a masked entry times 0 stays 0 (no `0 · (−∞)`, no `inf − inf`).
pub(crate) const MASKED_SCORE: f32 = -1.0e30;

/// Scaled dot-product attention weights `softmax(QKᵀ/√d_h)` over keys, `[B, H, Lq, Lk]`, from
/// `q` `[B, H, Lq, d_h]` and `k` `[B, H, Lk, d_h]`; `key_padding` (`[B, Lk]`, true at padded
/// steps) keeps those keys out of every softmax.
pub(crate) fn attention_weights(q: Tensor<4>, k: Tensor<4>, key_padding: Option<&Tensor<2, Bool>>) -> Tensor<4> {
    let [b, h, lq, d_head] = q.dims();
    let lk = k.dims()[2];
    let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d_head as f64).sqrt());
    let scores = match key_padding {
        Some(mask) => scores.mask_fill(mask.clone().reshape([b, 1, 1, lk]).expand([b, h, lq, lk]), MASKED_SCORE),
        None => scores,
    };
    softmax(scores, 3)
}
