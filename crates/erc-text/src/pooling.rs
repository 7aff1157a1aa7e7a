//! Sentence vectors from token vectors: masked mean or first-token pooling, and L2
//! normalisation, as sentence-transformers computes them.

use burn::tensor::{Bool, Tensor};

use crate::config::Pooling;

/// Pools token vectors `tokens` (`[B, L, w]`) into `[B, w]`; `padding` (`[B, L]`) is true at
/// padded positions. Mean: `Σ_t m_t H_t / max(Σ_t m_t, 1e-9)` over real tokens (special tokens
/// included). CLS: `H_0`.
pub fn pool(tokens: Tensor<3>, padding: &Tensor<2, Bool>, mode: Pooling) -> Tensor<2> {
    let [b, l, w] = tokens.dims();
    match mode {
        Pooling::Cls => tokens.slice([0..b, 0..1, 0..w]).reshape([b, w]),
        Pooling::Mean => {
            let mask = padding.clone().bool_not().float().reshape([b, l, 1]); // [B, L, 1]
            let sum = (tokens * mask.clone()).sum_dim(1).reshape([b, w]);
            let count = mask.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
            sum / count
        }
    }
}

/// Divides each row of `x` (`[B, w]`) by `max(‖row‖₂, 1e-12)`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12); // [B, 1]
    x / norm
}
