//! Losses on utterance representations rather than on class scores: MultiEMO's
//! Sample-Weighted Focal Contrastive loss and its Soft-HGR correlation loss, both computed
//! exactly as the reference computes them, in vectorised form.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Score given to excluded pairs before the softmax: far below any real score, yet finite.
const EXCLUDED: f32 = -1.0e30;

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
        let log_p = log_softmax(scores.mask_fill(diagonal, EXCLUDED), 1);
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
