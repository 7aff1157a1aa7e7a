//! Gradient reversal (Ganin & Lempitsky, 2015), as adversarial training uses it.

use burn::tensor::Tensor;

/// Gradient reversal: the identity in the forward pass, `−λ ×` the gradient in the backward
/// pass (`x·(−λ) + x̄·(1 + λ)`, with `x̄` detached).
pub fn grad_reverse<const D: usize>(x: Tensor<D>, lambda: f64) -> Tensor<D> {
    x.clone().mul_scalar(-lambda) + x.detach().mul_scalar(1.0 + lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::values;
    use burn::tensor::TensorData;

    #[test]
    fn gradient_reversal_is_the_identity_forward_and_negates_gradients() {
        // on every compiled backend that trains, for λ = 1 and λ = 0.5
        for backend in crate::BackendKind::compiled() {
            let dev = backend.training_device().unwrap();
            for lambda in [1.0f32, 0.5] {
                let x = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -2.0, 3.0], [3]), &dev).require_grad();
                let y = grad_reverse(x.clone(), lambda as f64);
                assert_eq!(values(y.clone()), vec![0.5, -2.0, 3.0], "{backend:?}");
                let upstream = Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [3]), &dev);
                let grads = (y * upstream).sum().backward();
                let want: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|g| -lambda * g).collect();
                assert_eq!(values(x.grad(&grads).unwrap()), want, "{backend:?}, λ = {lambda}");
            }
        }
    }
}
