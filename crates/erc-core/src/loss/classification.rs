//! Classification losses over the labelled utterances of a batch.

use burn::tensor::{Int, Tensor, TensorData};

use crate::batch::DialogueBatch;

/// Log-probabilities and targets of the labelled utterances of a batch, flattened
/// dialogue by dialogue.
#[derive(Debug, Clone)]
pub struct LabelledRows {
    /// `[N, C]` log-probabilities.
    pub log_probs: Tensor<2>,
    /// `[N]` class indices.
    pub targets: Tensor<1, Int>,
    /// The same class indices on the host.
    pub targets_host: Vec<usize>,
}

/// Selects the labelled rows of `[B, T, C]` log-probabilities. `None` when the batch has no
/// labelled utterance.
pub fn labelled_rows(log_probs: Tensor<3>, batch: &DialogueBatch) -> Option<LabelledRows> {
    let rows = batch.layout.labelled_rows();
    if rows.is_empty() {
        return None;
    }
    let [b, t, c] = log_probs.dims();
    let device = log_probs.device();
    let flat = log_probs.reshape([b * t, c]);
    let index = crate::batch::index_tensor(&rows, &device);
    let targets_host: Vec<usize> = rows.iter().map(|&r| batch.layout.labels[r] as usize).collect();
    let targets_i64: Vec<i64> = targets_host.iter().map(|&y| y as i64).collect();
    let n = targets_i64.len();
    Some(LabelledRows {
        log_probs: flat.select(0, index),
        targets: Tensor::from_data(TensorData::new(targets_i64, [n]), &device),
        targets_host,
    })
}

/// Negative log-likelihood with PyTorch `NLLLoss` semantics: the mean of `-log p[y]`, or with
/// class weights `Σ w_y · (-log p[y]) / Σ w_y`.
///
/// `log_probs`: `[N, C]`; `targets`: `[N]` (host copy, used for the weights).
pub fn nll_loss(
    log_probs: Tensor<2>,
    targets: Tensor<1, Int>,
    targets_host: &[usize],
    class_weights: Option<&[f32]>,
) -> Tensor<1> {
    let [n, _c] = log_probs.dims();
    let picked = log_probs.gather(1, targets.reshape([n, 1])).reshape([n]); // [N]
    match class_weights {
        None => picked.mean().neg(),
        Some(w) => {
            let device = picked.device();
            let weights: Vec<f32> = targets_host.iter().map(|&y| w[y]).collect();
            let total: f32 = weights.iter().sum();
            let weights = Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
            (picked * weights).sum().div_scalar(total).neg()
        }
    }
}

/// Focal loss with the MM-DFN reference's semantics:
/// `−(1/N) Σ_i w_{y_i} (1 − p̂_i)^γ log p_{i,y_i}`, where `p̂_i = exp(log p_{i,y_i})` is
/// treated as a constant (no gradient flows through the modulating factor) and the mean is
/// over utterances, not renormalised by the class weights.
///
/// `log_probs`: `[N, C]`; `targets`: `[N]` (host copy, used for the weights).
pub fn focal_loss(
    log_probs: Tensor<2>,
    targets: Tensor<1, Int>,
    targets_host: &[usize],
    class_weights: Option<&[f32]>,
    gamma: f64,
) -> Tensor<1> {
    let [n, _c] = log_probs.dims();
    let picked = log_probs.gather(1, targets.reshape([n, 1])).reshape([n]); // [N]
    let modulating = picked.clone().detach().exp().neg().add_scalar(1.0).clamp_min(0.0).powf_scalar(gamma);
    let mut terms = picked * modulating;
    if let Some(w) = class_weights {
        let weights: Vec<f32> = targets_host.iter().map(|&y| w[y]).collect();
        let device = terms.device();
        terms = terms * Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
    }
    terms.mean().neg()
}

/// [`nll_loss`] over the labelled utterances of a batch; `None` when there are none.
pub fn masked_nll(log_probs: Tensor<3>, batch: &DialogueBatch, class_weights: Option<&[f32]>) -> Option<Tensor<1>> {
    let rows = labelled_rows(log_probs, batch)?;
    Some(nll_loss(rows.log_probs, rows.targets, &rows.targets_host, class_weights))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::device;

    #[test]
    fn nll_matches_hand_computation() {
        let d = device();
        let probs = [[0.7f32, 0.2, 0.1], [0.1, 0.1, 0.8]];
        let lp: Vec<f32> = probs.iter().flatten().map(|p| p.ln()).collect();
        let lp = Tensor::<2>::from_data(TensorData::new(lp, [2, 3]), &d);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &d);
        let plain: f32 = nll_loss(lp.clone(), y.clone(), &[0, 1], None).into_scalar();
        let expected = -(0.7f32.ln() + 0.1f32.ln()) / 2.0;
        assert!((plain - expected).abs() < 1e-5, "{plain} vs {expected}");
        let weighted: f32 = nll_loss(lp, y, &[0, 1], Some(&[2.0, 1.0, 1.0])).into_scalar();
        let expected = -(2.0 * 0.7f32.ln() + 0.1f32.ln()) / 3.0;
        assert!((weighted - expected).abs() < 1e-5, "{weighted} vs {expected}");
    }

    #[test]
    fn focal_loss_matches_hand_computation_and_detaches_the_factor() {
        let d = device().autodiff();
        let probs = [[0.7f32, 0.2, 0.1], [0.1, 0.1, 0.8]];
        let lp: Vec<f32> = probs.iter().flatten().map(|p| p.ln()).collect();
        let lp = Tensor::<2>::from_data(TensorData::new(lp, [2, 3]), &d).require_grad();
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &d);
        let w = [2.0f32, 3.0, 1.0];
        let loss = focal_loss(lp.clone(), y, &[0, 1], Some(&w), 0.5);
        let value: f32 = loss.clone().into_scalar();
        let expected = -(2.0 * 0.3f32.sqrt() * 0.7f32.ln() + 3.0 * 0.9f32.sqrt() * 0.1f32.ln()) / 2.0;
        assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
        // d loss / d log p[0, 0] = -w0 (1 - p)^γ / N: the factor is a constant
        let grads = loss.backward();
        let g: Vec<f32> = lp.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        assert!((g[0] + 2.0 * 0.3f32.sqrt() / 2.0).abs() < 1e-5, "{}", g[0]);
        assert!((g[4] + 3.0 * 0.9f32.sqrt() / 2.0).abs() < 1e-5, "{}", g[4]);
        assert_eq!(g[1], 0.0);
    }
}
