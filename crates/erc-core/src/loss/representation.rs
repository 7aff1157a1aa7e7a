//! Losses on utterance representations rather than on class scores: the Sample-Weighted Focal
//! Contrastive loss and the Soft-HGR correlation loss between modalities (both introduced to ERC
//! by MultiEMO, and computed exactly as its reference does, in vectorised form).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::attention::MASKED_SCORE;

/// SWFC class weights from per-class training counts `n_c`: `w̃_c = (Σ n / n_c)^α`, then
/// normalised to sum 1 (the reference's L1 normalisation). A class with no training example
/// gets weight 0 (the reference would divide by zero).
pub fn swfc_class_weights(counts: &[f64], alpha: f64) -> Vec<f32> {
    let total: f64 = counts.iter().sum();
    let raw: Vec<f64> = counts.iter().map(|&n| if n > 0.0 { (total / n).powf(alpha) } else { 0.0 }).collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|&w| if sum > 0.0 { (w / sum) as f32 } else { 0.0 }).collect()
}

/// Settings of the Sample-Weighted Focal Contrastive loss.
#[derive(Debug, Clone, PartialEq)]
pub struct SwfcLoss {
    /// Temperature τ of the similarities.
    pub temperature: f64,
    /// Focusing exponent γ on `(1 − p)`.
    pub focus: f64,
    /// Per-class sample weights (see [`swfc_class_weights`]).
    pub class_weights: Vec<f32>,
}

fn host_matrix(values: Vec<f32>, n: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [n, n]), device)
}

impl SwfcLoss {
    /// The loss of features `z` (`[N, D]`, un-normalised) with classes `labels` (`N` entries,
    /// each below the number of class weights): a scalar `[1]`.
    ///
    /// With `ẑ` the L2-normalised rows and `p_ij = softmax_{j≠i}(ẑ_i·ẑ_j / τ)`, anchor `i`
    /// scores `ℓ_i = mean_{j≠i, y_j=y_i} (1 − p_ij)^γ log p_ij` (0 without a positive), and the
    /// loss is `−(1/N) Σ_i w_{y_i} ℓ_i`. The diagonal is excluded with a large finite score
    /// rather than `−∞`, so masking it out after the log-softmax multiplies a finite number by 0
    /// (a `−∞` there makes the vectorised form NaN).
    pub fn forward(&self, z: Tensor<2>, labels: &[usize]) -> Tensor<1> {
        let [n, _] = z.dims();
        assert_eq!(labels.len(), n, "one label per feature row");
        let device = z.device();
        let norm = z.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12); // [N, 1]
        let unit = z / norm;
        let scores = unit.clone().matmul(unit.transpose()).div_scalar(self.temperature); // [N, N]

        let mut diagonal = vec![false; n * n];
        let mut positive = vec![0f32; n * n];
        let mut anchor_weight = vec![0f32; n]; // w_{y_i} / |P(i)|, 0 without a positive
        for i in 0..n {
            diagonal[i * n + i] = true;
            let mut count = 0;
            for j in (0..n).filter(|&j| j != i && labels[j] == labels[i]) {
                positive[i * n + j] = 1.0;
                count += 1;
            }
            if count > 0 {
                anchor_weight[i] = self.class_weights[labels[i]] / count as f32;
            }
        }
        let diagonal = Tensor::<2, Bool>::from_data(TensorData::new(diagonal, [n, n]), &device);
        let log_p = log_softmax(scores.mask_fill(diagonal, MASKED_SCORE), 1);
        let positive = host_matrix(positive, n, &device);
        let focal = log_p.clone().exp().neg().add_scalar(1.0).clamp_min(f32::MIN_POSITIVE).powf_scalar(self.focus);
        let per_pair = focal * log_p * positive; // 0 wherever j ∉ P(i)
        let weights = Tensor::<2>::from_data(TensorData::new(anchor_weight, [n, 1]), &device);
        (per_pair * weights).sum().div_scalar(n as f64).neg()
    }
}

/// The Soft-HGR loss of three modalities' features and its per-pair terms.
#[derive(Debug, Clone)]
pub struct SoftHgr {
    /// The loss, a scalar `[1]`.
    pub loss: Tensor<1>,
    /// Per pair ((0,1), (0,2), (1,2)): `M(X, Y) = (1/N) Σ_i ⟨x_i, y_i⟩`, `[3]`.
    pub mapping: Tensor<1>,
    /// Per pair: `T(X, Y) = tr(Cov X · Cov Y) / N`, `[3]`.
    pub covariance: Tensor<1>,
}

/// Soft-HGR as MultiEMO implements it: `−(1/N) Σ_pairs [M(X, Y) − T(X, Y)/2]` over the pairs
/// of three `[N, D]` feature matrices.
///
/// The reference's `torch.cov(X)` treats rows as variables, an `N × N` covariance between
/// samples centred per row; its trace product is computed here in the exact Gram form
/// `tr(Cov X · Cov Y) = ‖X̃ᵀỸ‖²_F / (D − 1)²` (X̃, Ỹ row-centred), a `D × D` product instead of
/// `N × N` ones and an `N³` multiply. Needs `D ≥ 2`.
pub fn soft_hgr_loss(features: [Tensor<2>; 3]) -> SoftHgr {
    let [n, d] = features[0].dims();
    assert!(d >= 2, "Soft-HGR divides by D − 1: features need at least 2 columns");
    let centred: Vec<Tensor<2>> = features.iter().map(|x| x.clone() - x.clone().mean_dim(1)).collect();
    let mut mapping = Vec::with_capacity(3);
    let mut covariance = Vec::with_capacity(3);
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        mapping.push((features[a].clone() * features[b].clone()).sum().div_scalar(n as f64));
        let gram = centred[a].clone().transpose().matmul(centred[b].clone()); // [D, D]
        let scale = ((d - 1) * (d - 1)) as f64 * n as f64;
        covariance.push(gram.powf_scalar(2.0).sum().div_scalar(scale));
    }
    let mapping = Tensor::cat(mapping, 0);
    let covariance = Tensor::cat(covariance, 0);
    let loss = (mapping.clone() - covariance.clone().div_scalar(2.0)).sum().div_scalar(n as f64).neg();
    SoftHgr { loss, mapping, covariance }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::Distribution;

    /// SWFC written from its definition: a loop over anchors, f64.
    fn naive_swfc(z: &[f32], n: usize, labels: &[usize], weights: &[f32], tau: f64, gamma: f64) -> f64 {
        let d = z.len() / n;
        let unit: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let row: Vec<f64> = z[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                row.iter().map(|v| v / norm).collect()
            })
            .collect();
        let sim = |i: usize, j: usize| unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum::<f64>() / tau;
        let mut total = 0.0;
        for i in 0..n {
            let denominator: f64 = (0..n).filter(|&k| k != i).map(|k| sim(i, k).exp()).sum();
            let positives: Vec<usize> = (0..n).filter(|&j| j != i && labels[j] == labels[i]).collect();
            if positives.is_empty() {
                continue;
            }
            let sum: f64 = positives
                .iter()
                .map(|&j| {
                    let p = sim(i, j).exp() / denominator;
                    (1.0 - p).powf(gamma) * p.ln()
                })
                .sum();
            total += weights[labels[i]] as f64 * sum / positives.len() as f64;
        }
        -total / n as f64
    }

    #[test]
    fn swfc_matches_its_definition_with_singletons_and_absent_classes() {
        let dev = device();
        let labels = [0usize, 2, 2, 3, 0, 2, 1]; // class 1 is a singleton, class 4 absent
        let weights = swfc_class_weights(&[10.0, 3.0, 20.0, 7.0, 0.0], 1.1);
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(weights[4], 0.0, "a class never seen in training gets weight 0");
        let z = Tensor::<2>::random([7, 5], Distribution::Normal(0.0, 1.0), &dev);
        let loss = SwfcLoss { temperature: 0.8, focus: 2.4, class_weights: weights.clone() };
        let ours = values(loss.forward(z.clone(), &labels))[0] as f64;
        let want = naive_swfc(&values(z), 7, &labels, &weights, 0.8, 2.4);
        assert!((ours - want).abs() < 1e-6, "{ours} vs {want}");
    }

    #[test]
    fn swfc_stays_finite_where_the_only_other_sample_takes_all_the_mass() {
        // N = 2 of one class: p_01 = 1 exactly, (1 − p)^γ = 0, and the diagonal is excluded
        let dev = device().autodiff();
        let z = Tensor::<2>::random([2, 3], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let loss = SwfcLoss { temperature: 1.0, focus: 0.5, class_weights: vec![1.0] }.forward(z.clone(), &[0, 0]);
        assert!(values(loss.clone())[0].is_finite());
        let grad = values(z.grad(&loss.backward()).unwrap());
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    }

    #[test]
    fn soft_hgr_gram_form_equals_the_sample_covariance_form() {
        let dev = device();
        let (n, d) = (6, 4);
        let xs: Vec<Tensor<2>> = (0..3).map(|_| Tensor::random([n, d], Distribution::Normal(0.5, 1.0), &dev)).collect();
        let ours = soft_hgr_loss([xs[0].clone(), xs[1].clone(), xs[2].clone()]);
        let host: Vec<Vec<f64>> = xs.iter().map(|x| values(x.clone()).into_iter().map(f64::from).collect()).collect();
        // torch.cov(X): rows are variables, centred per row, divided by D − 1: an N × N matrix
        let cov = |x: &[f64]| {
            let mean: Vec<f64> = (0..n).map(|i| x[i * d..(i + 1) * d].iter().sum::<f64>() / d as f64).collect();
            let mut c = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    c[i * n + j] = (0..d).map(|k| (x[i * d + k] - mean[i]) * (x[j * d + k] - mean[j])).sum::<f64>()
                        / (d - 1) as f64;
                }
            }
            c
        };
        let mut loss = 0.0;
        let (mapping, covariance) = (values(ours.mapping), values(ours.covariance));
        for (p, (a, b)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
            let m = (0..n * d).map(|k| host[a][k] * host[b][k]).sum::<f64>() / n as f64;
            let (ca, cb) = (cov(&host[a]), cov(&host[b]));
            let trace: f64 = (0..n).map(|i| (0..n).map(|j| ca[i * n + j] * cb[j * n + i]).sum::<f64>()).sum();
            let t = trace / n as f64;
            assert!((mapping[p] as f64 - m).abs() < 1e-4 * m.abs().max(1.0));
            assert!((covariance[p] as f64 - t).abs() < 1e-4 * t.abs().max(1.0), "{} vs {t}", covariance[p]);
            loss += m - t / 2.0;
        }
        let loss = -loss / n as f64;
        let got = values(ours.loss)[0] as f64;
        assert!((got - loss).abs() < 1e-4 * loss.abs().max(1.0), "{got} vs {loss}");
    }
}
