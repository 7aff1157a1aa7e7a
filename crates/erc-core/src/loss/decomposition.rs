//! The losses of adversarial modality decomposition: the discriminator's cross-entropy and the
//! orthogonality loss that keeps specific and common parts apart.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

/// Cross-entropy of discriminator logits (`[N, M]`) against one modality id for every row,
/// averaged over the rows.
pub fn modality_cross_entropy(logits: Tensor<2>, modality: usize) -> Tensor<1> {
    let n = logits.dims()[0];
    log_softmax(logits, 1).slice([0..n, modality..modality + 1]).mean().neg()
}

/// The orthogonality loss `(1/B) Σ_b ‖X_b Y_bᵀ‖²_F` of two feature sets `[B, L, h]` (rows that
/// should not count must be zero in either).
pub fn orthogonality_loss(x: Tensor<3>, y: Tensor<3>) -> Tensor<1> {
    let b = x.dims()[0];
    x.matmul(y.swap_dims(1, 2)).powi_scalar(2).sum().div_scalar(b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn orthogonality_loss_matches_its_definition() {
        let dev = device();
        let x = Tensor::<3>::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let y = Tensor::<3>::random([2, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let (xv, yv) = (values(x.clone()), values(y.clone()));
        let mut expected = 0.0f64;
        for b in 0..2 {
            for i in 0..3 {
                for j in 0..3 {
                    let dot: f64 = (0..4).map(|k| (xv[(b * 3 + i) * 4 + k] * yv[(b * 3 + j) * 4 + k]) as f64).sum();
                    expected += dot * dot;
                }
            }
        }
        let got = values(orthogonality_loss(x, y))[0] as f64;
        assert!((got - expected / 2.0).abs() < 1e-4 * expected.max(1.0), "{got} vs {}", expected / 2.0);
    }

    #[test]
    fn modality_cross_entropy_is_the_mean_negative_log_probability() {
        let dev = device();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0], [2, 3]), &dev);
        let got = values(modality_cross_entropy(logits, 1))[0] as f64;
        let p0 = 1.0 / (std::f64::consts::E + 2.0);
        let p1 = (2f64).exp() / ((2f64).exp() + 2.0);
        let expected = -(p0.ln() + p1.ln()) / 2.0;
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }
}
