//! The facial-expression frame filter: per-face emotion distributions decide which faces of an
//! utterance the vision stream keeps (introduced by FacialMMT).
//!
//! Per face `n`: `p_n = softmax(z_n)` (or `softmax(z_n + g)` with Gumbel noise `g`),
//! importance `s_n = Σ_c p_{n,c}²`, kept when `s_n > threshold`. Kept faces move to the front in
//! their original order and each row becomes `[f_n; p_n]`; the mask covers the first `K` rows.
//! When no face passes, every face is kept with the original mask. Padding rows are zero. An
//! utterance without faces keeps its (empty) mask.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::batch::gather_rows;

/// How face emotion logits become distributions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum FerMode {
    /// `softmax(z)`: deterministic (recommended).
    Softmax,
    /// `softmax(z + g)`, `g ~ Gumbel(0, 1)` from a seeded generator, as the reference (which
    /// samples the noise at evaluation too, so its predictions are random).
    Gumbel {
        /// Seed of the noise.
        seed: u64,
    },
}

/// Which faces one utterance keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceSelection {
    /// The faces kept, in their original order (every real face when `fell_back`).
    pub rows: Vec<usize>,
    /// Whether no face passed and all were kept.
    pub fell_back: bool,
}

impl FaceSelection {
    /// The face each of the utterance's `valid.len()` output rows holds (`None`: a zero row).
    /// Kept faces fill the first rows; after a fallback every face stays in its own row.
    pub fn sources(&self, valid: &[bool]) -> Vec<Option<usize>> {
        if self.fell_back {
            (0..valid.len()).map(|j| valid[j].then_some(j)).collect()
        } else {
            (0..valid.len()).map(|j| self.rows.get(j).copied()).collect()
        }
    }
}

/// The keep decision for one utterance from its faces' importances `importance[n]`; `valid[n]`
/// says which rows are real faces.
pub fn select_faces(importance: &[f32], valid: &[bool], threshold: f32) -> FaceSelection {
    let real: Vec<usize> = (0..importance.len()).filter(|&n| valid[n]).collect();
    let kept: Vec<usize> = real.iter().copied().filter(|&n| importance[n] > threshold).collect();
    if kept.is_empty() {
        FaceSelection { rows: real, fell_back: true }
    } else {
        FaceSelection { rows: kept, fell_back: false }
    }
}

/// The filtered vision input of a batch of utterances.
#[derive(Debug, Clone)]
pub struct FilteredFrames {
    /// `[B, N, D + C]` rows `[f; p]`, zero where the mask is false.
    pub rows: Tensor<3>,
    /// `[B, N]` new mask, row-major (true = a face).
    pub mask: Vec<bool>,
    /// Per utterance, the keep decision.
    pub selections: Vec<FaceSelection>,
    /// `[B, N]` importance `Σ_c p²` of every slot, row-major (padding slots included).
    pub importance: Vec<f32>,
}

impl FilteredFrames {
    /// The new mask as a float tensor `[B, N]` (1.0 on kept rows) on the rows' device.
    pub fn mask_tensor(&self) -> Tensor<2> {
        let [b, n, _] = self.rows.dims();
        let values: Vec<f32> = self.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        Tensor::from_data(TensorData::new(values, [b, n]), &self.rows.device())
    }
}

/// Applies the filter to a batch: `faces` `[B, N, D]` (face embeddings), `logits` `[B, N, C]`
/// (face-emotion logits), `valid` (`B × N`, true at real faces).
pub fn filter_frames(
    faces: Tensor<3>,
    logits: Tensor<3>,
    valid: &[bool],
    threshold: f32,
    mode: FerMode,
) -> FilteredFrames {
    let [b, n, _] = faces.dims();
    let c = logits.dims()[2];
    let device = faces.device();
    assert_eq!(valid.len(), b * n, "`valid` holds B × N flags");
    let logits = match mode {
        FerMode::Softmax => logits,
        FerMode::Gumbel { seed } => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let noise: Vec<f32> = (0..b * n * c)
                .map(|_| {
                    let u: f32 = rng.random_range(f32::EPSILON..1.0);
                    -(-u.ln()).ln()
                })
                .collect();
            logits + Tensor::<3>::from_data(TensorData::new(noise, [b, n, c]), &device)
        }
    };
    let p = softmax(logits, 2); // [B, N, C]
    let importance: Vec<f32> = p.clone().powi_scalar(2).sum_dim(2).into_data().iter::<f32>().collect();
    let selections: Vec<FaceSelection> =
        (0..b).map(|i| select_faces(&importance[i * n..(i + 1) * n], &valid[i * n..(i + 1) * n], threshold)).collect();

    let stacked = Tensor::cat(vec![faces, p], 2); // [B, N, D + C]
    let sources: Vec<Option<usize>> =
        selections.iter().enumerate().flat_map(|(i, s)| s.sources(&valid[i * n..(i + 1) * n])).collect();
    let mask = sources.iter().map(Option::is_some).collect();
    FilteredFrames { rows: gather_rows(stacked, &sources, n), mask, selections, importance }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};

    /// A logit row whose softmax has importance far above (`peaked`) or at (`flat`) 1/7.
    fn logits(rows: &[bool]) -> Vec<f32> {
        rows.iter().flat_map(|&peaked| (0..7).map(move |c| if peaked && c == 2 { 10.0 } else { 0.0 })).collect()
    }

    #[test]
    fn kept_faces_move_to_the_front_with_their_distribution() {
        let device = device();
        // one utterance, 4 slots: faces 0..3 real, faces 1 and 3 peaked (kept), 0 and 2 flat
        let faces: Vec<f32> = (0..4).flat_map(|n| vec![n as f32 + 1.0; 2]).collect();
        let faces = Tensor::<3>::from_data(TensorData::new(faces, [1, 4, 2]), &device);
        let z = Tensor::<3>::from_data(TensorData::new(logits(&[false, true, false, true]), [1, 4, 7]), &device);
        let out = filter_frames(faces, z, &[true; 4], 0.2, FerMode::Softmax);
        assert_eq!(out.selections[0], FaceSelection { rows: vec![1, 3], fell_back: false });
        assert_eq!(out.mask, vec![true, true, false, false]);
        let rows = values(out.rows);
        assert_eq!(&rows[0..2], &[2.0, 2.0]); // face 1
        assert_eq!(&rows[9..11], &[4.0, 4.0]); // face 3
        assert!(rows[2 + 2] > 0.99); // its distribution peaks at class 2
        assert!(rows[18..].iter().all(|&v| v == 0.0)); // empty slots are zero
    }

    #[test]
    fn no_face_passing_keeps_all_under_the_original_mask_and_no_face_keeps_nothing() {
        let device = device();
        let faces = Tensor::<3>::ones([2, 3, 2], &device);
        let z = Tensor::<3>::from_data(TensorData::new(logits(&[false; 6]), [2, 3, 7]), &device);
        // utterance 0: faces 0 and 2 real (flat: importance 1/7 < 0.2); utterance 1: no face
        let valid = [true, false, true, false, false, false];
        let out = filter_frames(faces, z, &valid, 0.2, FerMode::Softmax);
        assert!(out.selections[0].fell_back);
        assert_eq!(out.mask, valid.to_vec());
        let rows = values(out.rows);
        assert_eq!(rows[0], 1.0);
        assert!(rows[9..18].iter().all(|&v| v == 0.0)); // the padding row of utterance 0
        assert_eq!(rows[18], 1.0);
        assert!(rows[27..].iter().all(|&v| v == 0.0)); // the face-less utterance
    }

    #[test]
    fn gumbel_mode_is_seeded() {
        let device = device();
        let faces = Tensor::<3>::ones([1, 8, 2], &device);
        let z = Tensor::<3>::zeros([1, 8, 7], &device);
        let run = |seed| filter_frames(faces.clone(), z.clone(), &[true; 8], 0.2, FerMode::Gumbel { seed });
        assert_eq!(values(run(3).rows), values(run(3).rows));
        assert_ne!(values(run(3).rows), values(run(4).rows));
    }
}
