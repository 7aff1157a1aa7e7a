//! Multimodal dialogue graphs: angular-similarity edges, symmetric normalisation, and
//! propagation per dialogue block.
//!
//! Nodes are utterances × modalities. Within a modality, every pair of utterances of the same
//! dialogue is linked (self-loops included) with weight `1 − arccos(0.99999·cos)/π`; across
//! modalities only the same utterance is linked (weight `cross_weight · sim`); nothing links
//! two dialogues. The adjacency is normalised as `D^{-1/2} A D^{-1/2}`.
//!
//! The graph is never materialised as the dense `(M·N)²` matrix: it is kept as per-dialogue
//! intra-modal blocks `[M·B, T, T]` (already normalised) plus one vector per modality pair, so
//! building and propagating cost `O(Σ_b n_b²)`, not `O((Σ_b n_b)²)`.
//!
//! Node order everywhere is modality-major and, within a modality, dialogue-major ("packed"):
//! node `m·N + offset_b + t`.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::{BatchLayout, index_tensor, packed_rows, utterance_positions};

/// The shrink factor the reference applies to cosines before `arccos` (keeps it finite).
pub const COSINE_SHRINK: f64 = 0.99999;

/// Angular similarity of cosines: `1 − arccos(0.99999·cos)/π`, differentiable, in `[0, 1]`.
pub fn angular_similarity<const D: usize>(cos: Tensor<D>) -> Tensor<D> {
    cos.mul_scalar(COSINE_SHRINK).acos().div_scalar(std::f64::consts::PI).neg().add_scalar(1.0)
}

/// Rows scaled to unit L2 norm (`[N, D]`). Zero rows stay zero instead of becoming NaN.
fn unit_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).clamp_min(1e-24).sqrt(); // [N, 1]
    x / norm
}

/// How packed utterance rows map to the padded `[B, T]` grid of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLayout {
    /// Utterances per dialogue.
    pub lengths: Vec<usize>,
    /// Padded length `T`.
    pub max_len: usize,
}

impl NodeLayout {
    /// The layout of a batch.
    pub fn from_batch(layout: &BatchLayout) -> Self {
        Self { lengths: layout.lengths.clone(), max_len: layout.max_len }
    }

    /// Utterances `N`.
    pub fn num_nodes(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// For each padded position `b·T + t`, its packed row (0 for padding). `[B·T]`
    pub fn pad_index(&self) -> Vec<usize> {
        packed_rows(&self.lengths, self.max_len)
    }

    /// For each packed row, its padded position `b·T + t`. `[N]`
    pub fn unpad_index(&self) -> Vec<usize> {
        utterance_positions(&self.lengths, self.max_len)
    }

    /// `[B, T, T]` mask, 1.0 where both steps are real utterances of the dialogue.
    fn block_mask(&self, device: &Device) -> Tensor<3> {
        let t = self.max_len;
        let mut data = vec![0f32; self.lengths.len() * t * t];
        for (b, &n) in self.lengths.iter().enumerate() {
            for i in 0..n {
                data[b * t * t + i * t..b * t * t + i * t + n].fill(1.0);
            }
        }
        Tensor::from_data(TensorData::new(data, [self.lengths.len(), t, t]), device)
    }
}

/// A normalised multimodal dialogue graph in factorised form. See the module docs.
#[derive(Debug, Clone)]
pub struct MultimodalGraph {
    /// Normalised intra-modal blocks `[M·B, T, T]` (zero outside each dialogue).
    intra: Tensor<3>,
    /// Normalised cross-modal weights `[N, 1]` for each pair `m < m'` (symmetric).
    cross: Vec<((usize, usize), Tensor<2>)>,
    layout: NodeLayout,
    modalities: usize,
    /// `[M·B·T]` packed node row of each padded position.
    pad_all: Tensor<1, Int>,
    /// `[M·N]` padded position of each packed node.
    unpad_all: Tensor<1, Int>,
}

impl MultimodalGraph {
    /// Builds the graph from packed node features, one `[N, D]` tensor per modality.
    /// Gradients flow through the similarities into `nodes`.
    pub fn build(nodes: &[Tensor<2>], layout: &NodeLayout, cross_weight: f64) -> Self {
        let device = nodes[0].device();
        let (b, t, n, m) = (layout.lengths.len(), layout.max_len, layout.num_nodes(), nodes.len());
        let pad = index_tensor(&layout.pad_index(), &device);
        let unpad = index_tensor(&layout.unpad_index(), &device);
        let mask = layout.block_mask(&device);
        let units: Vec<Tensor<2>> = nodes.iter().map(|x| unit_rows(x.clone())).collect();

        // intra-modal similarity blocks and their row sums
        let mut blocks = Vec::with_capacity(m);
        let mut degrees = Vec::with_capacity(m);
        for u in &units {
            let [_, d] = u.dims();
            let padded = u.clone().select(0, pad.clone()).reshape([b, t, d]);
            let cos = padded.clone().matmul(padded.swap_dims(1, 2)); // [B, T, T]
            let block = angular_similarity(cos) * mask.clone();
            let row_sums = block.clone().sum_dim(2).reshape([b * t, 1]).select(0, unpad.clone()); // [N, 1]
            blocks.push(block);
            degrees.push(row_sums);
        }
        // cross-modal links between the same utterance
        let mut cross = Vec::new();
        for i in 0..m {
            for j in i + 1..m {
                let cos = (units[i].clone() * units[j].clone()).sum_dim(1); // [N, 1]
                let sim = angular_similarity(cos).mul_scalar(cross_weight);
                degrees[i] = degrees[i].clone() + sim.clone();
                degrees[j] = degrees[j].clone() + sim.clone();
                cross.push(((i, j), sim));
            }
        }
        let scales: Vec<Tensor<2>> = degrees.into_iter().map(|deg| deg.sqrt().recip()).collect(); // [N, 1]
        let intra = Tensor::cat(
            blocks
                .into_iter()
                .zip(&scales)
                .map(|(block, s)| {
                    let s = s.clone().select(0, pad.clone()).reshape([b, t, 1]);
                    block * s.clone() * s.swap_dims(1, 2)
                })
                .collect(),
            0,
        );
        let cross =
            cross.into_iter().map(|((i, j), sim)| ((i, j), sim * scales[i].clone() * scales[j].clone())).collect();

        let pad_host = layout.pad_index();
        let pad_all: Vec<usize> = (0..m).flat_map(|k| pad_host.iter().map(move |&r| r + k * n)).collect();
        let unpad_host = layout.unpad_index();
        let unpad_all: Vec<usize> = (0..m).flat_map(|k| unpad_host.iter().map(move |&r| r + k * b * t)).collect();
        Self {
            intra,
            cross,
            layout: layout.clone(),
            modalities: m,
            pad_all: index_tensor(&pad_all, &device),
            unpad_all: index_tensor(&unpad_all, &device),
        }
    }

    /// `Â · H` for node features `[M·N, D]`.
    pub fn propagate(&self, h: Tensor<2>) -> Tensor<2> {
        let [_, d] = h.dims();
        let (b, t, n) = (self.layout.lengths.len(), self.layout.max_len, self.layout.num_nodes());
        let m = self.modalities;
        let padded = h.clone().select(0, self.pad_all.clone()).reshape([m * b, t, d]);
        let mut out = self.intra.clone().matmul(padded).reshape([m * b * t, d]).select(0, self.unpad_all.clone());
        if !self.cross.is_empty() {
            let part = |k: usize| h.clone().narrow(0, k * n, n);
            let mut per_modality: Vec<Option<Tensor<2>>> = vec![None; m];
            for ((i, j), w) in &self.cross {
                for (to, from) in [(*i, *j), (*j, *i)] {
                    let term = part(from) * w.clone();
                    per_modality[to] = Some(match per_modality[to].take() {
                        Some(acc) => acc + term,
                        None => term,
                    });
                }
            }
            let cross =
                Tensor::cat(per_modality.into_iter().map(|x| x.expect("every modality has a partner")).collect(), 0);
            out = out + cross;
        }
        out
    }

    /// The dense normalised adjacency `[M·N, M·N]` on the host, row-major. For checks and
    /// debugging only: it costs `O((M·N)²)` memory.
    pub fn dense_host(&self) -> Vec<f32> {
        let (b, t, n, m) = (self.layout.lengths.len(), self.layout.max_len, self.layout.num_nodes(), self.modalities);
        let size = m * n;
        let mut dense = vec![0f32; size * size];
        let blocks: Vec<f32> = self.intra.to_data().iter::<f32>().collect();
        let mut offset = 0;
        let mut offsets = Vec::with_capacity(b);
        for &len in &self.layout.lengths {
            offsets.push(offset);
            offset += len;
        }
        for k in 0..m {
            for (bi, &len) in self.layout.lengths.iter().enumerate() {
                for i in 0..len {
                    for j in 0..len {
                        let row = k * n + offsets[bi] + i;
                        let col = k * n + offsets[bi] + j;
                        dense[row * size + col] = blocks[((k * b + bi) * t + i) * t + j];
                    }
                }
            }
        }
        for ((i, j), w) in &self.cross {
            let w: Vec<f32> = w.to_data().iter::<f32>().collect();
            for (r, v) in w.into_iter().enumerate() {
                dense[(i * n + r) * size + j * n + r] = v;
                dense[(j * n + r) * size + i * n + r] = v;
            }
        }
        dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::device;
    use burn::tensor::Distribution;

    /// The reference's construction, written naively on the host in f64.
    fn dense_reference(nodes: &[Vec<f64>], d: usize, lengths: &[usize], cross_weight: f64) -> Vec<f64> {
        let n: usize = lengths.iter().sum();
        let m = nodes.len();
        let size = m * n;
        let sim = |a: &[f64], b: &[f64]| {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
            1.0 - (0.99999 * dot / (na * nb)).acos() / std::f64::consts::PI
        };
        let row = |k: usize, i: usize| &nodes[k][i * d..(i + 1) * d];
        let mut a = vec![0f64; size * size];
        let mut start = 0;
        for &len in lengths {
            for k in 0..m {
                for k2 in 0..m {
                    for i in start..start + len {
                        if k == k2 {
                            for j in start..start + len {
                                a[(k * n + i) * size + k * n + j] = sim(row(k, i), row(k, j));
                            }
                        } else {
                            a[(k * n + i) * size + k2 * n + i] = cross_weight * sim(row(k, i), row(k2, i));
                        }
                    }
                }
            }
            start += len;
        }
        let deg: Vec<f64> = (0..size).map(|r| a[r * size..(r + 1) * size].iter().sum::<f64>().powf(-0.5)).collect();
        (0..size * size).map(|e| deg[e / size] * a[e] * deg[e % size]).collect()
    }

    #[test]
    fn factorised_graph_equals_the_dense_construction_and_propagates_like_it() {
        let dev = device();
        let lengths = vec![3, 5, 1];
        let layout = NodeLayout { lengths: lengths.clone(), max_len: 5 };
        let (n, d, m) = (9, 4, 3);
        let nodes: Vec<Tensor<2>> =
            (0..m).map(|_| Tensor::random([n, d], Distribution::Normal(0.0, 1.0), &dev)).collect();
        let graph = MultimodalGraph::build(&nodes, &layout, 0.7);
        let host: Vec<Vec<f64>> = nodes.iter().map(|x| x.to_data().iter::<f32>().map(f64::from).collect()).collect();
        let want = dense_reference(&host, d, &lengths, 0.7);
        let got = graph.dense_host();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() < 1e-5, "adjacency entry {i}: {g} vs {w}");
        }
        // propagation equals the dense product
        let h = Tensor::<2>::random([m * n, 2], Distribution::Normal(0.0, 1.0), &dev);
        let hv: Vec<f32> = h.to_data().iter::<f32>().collect();
        let out: Vec<f32> = graph.propagate(h).into_data().iter::<f32>().collect();
        let size = m * n;
        for r in 0..size {
            for c in 0..2 {
                let expect: f64 = (0..size).map(|k| want[r * size + k] * hv[k * 2 + c] as f64).sum();
                assert!((out[r * 2 + c] as f64 - expect).abs() < 1e-5, "row {r} col {c}");
            }
        }
    }

    #[test]
    fn self_loop_weight_is_the_reference_constant() {
        let x = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device());
        let v: f32 = angular_similarity(x).into_scalar();
        assert!((v - 0.998_576).abs() < 1e-6, "{v}");
    }
}
