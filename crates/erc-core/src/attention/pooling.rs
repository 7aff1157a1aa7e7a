//! Additive-attention pooling of a masked sequence into one vector (first used by FacialMMT,
//! as `attention`):
//! `e_i = wᵀ tanh(P z_i + b_P + Q q + b_Q) + b_w` with a learned query `q`, `e_i = −∞` at
//! masked positions, `α = softmax(e)`, `u = Σ_i α_i z_i`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Distribution, Tensor};

use crate::attention::MASKED_SCORE;
use crate::import::{ImportError, TorchParams, import_linear, import_param};

/// Additive attention with a learned query over a sequence, `[B, L, d] → [B, d]`.
#[derive(Module, Debug)]
pub struct AdditivePooling {
    /// `query_vector`: `[d]`, initialised `N(0, 1)` as the reference's `randn`.
    pub query: Param<Tensor<1>>,
    /// `value`: `d → 1`, the score `w`.
    pub score: Linear,
    /// `P`: `d → d`, applied to each position.
    pub key: Linear,
    /// `Q`: `d → d`, applied to the query.
    pub query_map: Linear,
}

/// Configuration of a [`AdditivePooling`]; [`AdditivePoolingConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct AdditivePoolingConfig {
    /// Width `d` of the pooled vectors.
    pub d: usize,
}

impl AdditivePoolingConfig {
    /// Fresh weights for width `d`.
    pub fn init(&self, device: &Device) -> AdditivePooling {
        let d = self.d.clone();
        AdditivePooling {
            query: Param::from_tensor(Tensor::random([d], Distribution::Normal(0.0, 1.0), device)),
            score: LinearConfig::new(d, 1).init(device),
            key: LinearConfig::new(d, d).init(device),
            query_map: LinearConfig::new(d, d).init(device),
        }
    }
}

impl AdditivePooling {
    /// Attention weights `α`, `[B, L]`: `z` is `[B, L, d]`, `padding` (`[B, L]`, true at
    /// positions to ignore) keeps them at 0. A row with every position masked gets uniform
    /// weights instead of NaN.
    pub fn weights(&self, z: Tensor<3>, padding: Option<&Tensor<2, Bool>>) -> Tensor<2> {
        let [b, l, d] = z.dims();
        let q = self.query_map.forward(self.query.val().reshape([1, d])).reshape([1, 1, d]); // [1, 1, d]
        let hidden = (self.key.forward(z.reshape([b * l, d])).reshape([b, l, d]) + q).tanh();
        let scores = self.score.forward(hidden.reshape([b * l, d])).reshape([b, l]); // [B, L]
        let scores = match padding {
            Some(mask) => scores.mask_fill(mask.clone(), MASKED_SCORE),
            None => scores,
        };
        softmax(scores, 1)
    }

    /// The pooled vectors `u = Σ_i α_i z_i`, `[B, d]`.
    pub fn forward(&self, z: Tensor<3>, padding: Option<&Tensor<2, Bool>>) -> Tensor<2> {
        self.pool(z, padding).1
    }

    /// The weights `α` (`[B, L]`) and the pooled vectors `u` (`[B, d]`) together.
    pub fn pool(&self, z: Tensor<3>, padding: Option<&Tensor<2, Bool>>) -> (Tensor<2>, Tensor<2>) {
        let [b, l, d] = z.dims();
        let alpha = self.weights(z.clone(), padding);
        let pooled = alpha.clone().reshape([b, 1, l]).matmul(z).reshape([b, d]);
        (alpha, pooled)
    }

    /// Visits `prefix.query_vector`, `prefix.value`, `prefix.P`, `prefix.Q`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            query: import_param(p, &format!("{prefix}.query_vector"), self.query, false)?,
            score: import_linear(p, &format!("{prefix}.value"), self.score)?,
            key: import_linear(p, &format!("{prefix}.P"), self.key)?,
            query_map: import_linear(p, &format!("{prefix}.Q"), self.query_map)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::test_util::{device, values};

    /// The pooled vector is the α-weighted mean, α sums to 1, masked positions get 0 and
    /// do not change the result.
    #[test]
    fn masked_positions_get_no_weight_and_do_not_move_the_result() {
        let device = device();
        let pool = AdditivePoolingConfig::new(4).init(&device);
        let z = Tensor::<3>::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
        let mask = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![false, false, true, false, false, false], [2, 3]),
            &device,
        );
        let alpha = values(pool.weights(z.clone(), Some(&mask)));
        assert_eq!(alpha[2], 0.0);
        for row in alpha.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let pooled = values(pool.forward(z.clone(), Some(&mask)));
        let zs = values(z.clone());
        for (i, &u) in pooled.iter().enumerate() {
            let (b, c) = (i / 4, i % 4);
            let expected: f32 = (0..3).map(|t| alpha[b * 3 + t] * zs[(b * 3 + t) * 4 + c]).sum();
            assert!((u - expected).abs() < 1e-5);
        }
        // changing the masked position changes nothing
        let mut other = zs.clone();
        other[2 * 4..3 * 4].iter_mut().for_each(|v| *v += 100.0);
        let z2 = Tensor::<3>::from_data(TensorData::new(other, [2, 3, 4]), &device);
        let pooled2 = values(pool.forward(z2, Some(&mask)));
        assert!(pooled.iter().zip(&pooled2).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
