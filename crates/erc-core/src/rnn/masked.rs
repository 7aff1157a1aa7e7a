//! Recurrent layers with PyTorch's weight layout that respect the utterance mask.
//!
//! Weights are stored exactly as `torch.nn.GRU` / `torch.nn.LSTM` store them (fused gate rows,
//! separate input and hidden biases), so reference `state_dict`s import without reshuffling.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::batch::index_tensor;
use crate::import::{ImportError, TorchParams, import_param};

/// A parameter initialised like PyTorch's recurrent layers: `U(-1/√hidden, 1/√hidden)`.
pub(crate) fn uniform_param<const D: usize>(shape: [usize; D], hidden: usize, device: &Device) -> Param<Tensor<D>> {
    let k = 1.0 / (hidden as f64).sqrt();
    Param::from_tensor(Tensor::random(shape, Distribution::Uniform(-k, k), device))
}

/// The weights of one direction of one GRU layer, PyTorch layout (gate rows `[r; z; n]`).
#[derive(Module, Debug)]
pub struct GruWeights {
    /// `[3H, D]` input-to-hidden weights.
    pub weight_ih: Param<Tensor<2>>,
    /// `[3H, H]` hidden-to-hidden weights.
    pub weight_hh: Param<Tensor<2>>,
    /// `[3H]` input bias.
    pub bias_ih: Param<Tensor<1>>,
    /// `[3H]` hidden bias.
    pub bias_hh: Param<Tensor<1>>,
}

/// Configuration of a [`GruWeights`]; [`GruWeightsConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct GruWeightsConfig {
    /// Input size.
    pub d_input: usize,
    /// Hidden size.
    pub d_hidden: usize,
}

impl GruWeightsConfig {
    /// Fresh weights for input size `d_input` and hidden size `d_hidden`.
    pub fn init(&self, device: &Device) -> GruWeights {
        let Self { d_input, d_hidden } = self.clone();
        GruWeights {
            weight_ih: uniform_param([3 * d_hidden, d_input], d_hidden, device),
            weight_hh: uniform_param([3 * d_hidden, d_hidden], d_hidden, device),
            bias_ih: uniform_param([3 * d_hidden], d_hidden, device),
            bias_hh: uniform_param([3 * d_hidden], d_hidden, device),
        }
    }
}

impl GruWeights {
    /// Visits the four tensors under PyTorch's names (`weight_ih_l0`, `…_l0_reverse`, …).
    fn visit_torch(self, p: &mut impl TorchParams, prefix: &str, suffix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            weight_ih: import_param(p, &format!("{prefix}.weight_ih_{suffix}"), self.weight_ih, false)?,
            weight_hh: import_param(p, &format!("{prefix}.weight_hh_{suffix}"), self.weight_hh, false)?,
            bias_ih: import_param(p, &format!("{prefix}.bias_ih_{suffix}"), self.bias_ih, false)?,
            bias_hh: import_param(p, &format!("{prefix}.bias_hh_{suffix}"), self.bias_hh, false)?,
        })
    }

    /// Visits the four tensors of a `torch.nn.GRUCell` named `prefix` (`prefix.weight_ih`, …).
    pub fn visit_torch_cell(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            weight_ih: import_param(p, &format!("{prefix}.weight_ih"), self.weight_ih, false)?,
            weight_hh: import_param(p, &format!("{prefix}.weight_hh"), self.weight_hh, false)?,
            bias_ih: import_param(p, &format!("{prefix}.bias_ih"), self.bias_ih, false)?,
            bias_hh: import_param(p, &format!("{prefix}.bias_hh"), self.bias_hh, false)?,
        })
    }

    /// Input projections of every step at once: `[T, B, D] -> [T, B, 3H]`.
    fn project_inputs(&self, x: Tensor<3>) -> Tensor<3> {
        let w = self.weight_ih.val().transpose().unsqueeze::<3>(); // [1, D, 3H]
        x.matmul(w) + self.bias_ih.val().unsqueeze::<3>()
    }
}

/// One bidirectional layer: a forward and a reverse direction.
#[derive(Module, Debug)]
pub struct BiGruLayer {
    /// The left-to-right direction.
    pub forward: GruWeights,
    /// The right-to-left direction.
    pub reverse: GruWeights,
}

/// Configuration of a [`MaskedBiGru`].
#[derive(Config, Debug)]
pub struct MaskedBiGruConfig {
    /// Input feature size.
    pub d_input: usize,
    /// Hidden size of each direction.
    pub d_hidden: usize,
    /// Number of stacked bidirectional layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Dropout on the input of every layer after the first (PyTorch's `dropout` argument).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A multi-layer bidirectional GRU over padded sequences that respects their lengths.
///
/// Same maths and weight layout as `torch.nn.GRU(bidirectional=True)`, with one difference
/// that makes it padding-invariant: the reverse direction of sequence `b` starts at its last
/// real step (`len_b - 1`), as if the sequence had been packed, so padding never feeds it.
/// Outputs at padded steps are zero. Per layer the output is `[forward ‖ reverse]`.
#[derive(Module, Debug)]
pub struct MaskedBiGru {
    layers: Vec<BiGruLayer>,
    dropout: Dropout,
    #[module(skip)]
    d_hidden: usize,
}

impl MaskedBiGruConfig {
    /// Builds the layer on a device, initialised as PyTorch does.
    pub fn init(&self, device: &Device) -> MaskedBiGru {
        let layers = (0..self.num_layers)
            .map(|layer| {
                let d_in = if layer == 0 { self.d_input } else { 2 * self.d_hidden };
                BiGruLayer {
                    forward: GruWeightsConfig::new(d_in, self.d_hidden).init(device),
                    reverse: GruWeightsConfig::new(d_in, self.d_hidden).init(device),
                }
            })
            .collect();
        MaskedBiGru { layers, dropout: DropoutConfig::new(self.dropout).init(), d_hidden: self.d_hidden }
    }
}

/// Flat row permutation that reverses the first `len_b` steps of every sequence and leaves
/// padded steps in place. It is its own inverse. Shape `[B * T]`.
pub fn reverse_within_lengths(lengths: &[usize], max_len: usize, device: &Device) -> Tensor<1, Int> {
    let mut index = Vec::with_capacity(lengths.len() * max_len);
    for (b, &n) in lengths.iter().enumerate() {
        for t in 0..max_len {
            let source = if t < n { n - 1 - t } else { t };
            index.push(b * max_len + source);
        }
    }
    index_tensor(&index, device)
}

/// A `[B, T, 1]` mask: 1.0 at the first `len_b` steps of each row.
pub fn length_mask(lengths: &[usize], max_len: usize, device: &Device) -> Tensor<3> {
    let data: Vec<f32> =
        lengths.iter().flat_map(|&n| (0..max_len).map(move |t| if t < n { 1.0 } else { 0.0 })).collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), max_len, 1]), device)
}

/// Sequences sorted longest first, so that at step `s` the sequences still running are the first
/// `active[s]` rows and finished ones cost nothing (as packed sequences do).
pub(crate) struct LongestFirst {
    /// Sequence at each sorted position.
    pub order: Vec<usize>,
    /// Lengths in sorted order.
    pub sorted: Vec<usize>,
    /// Sorted position of each sequence.
    pub inverse: Vec<usize>,
    /// Sequences still running at each of the `T` steps (at least 1).
    pub active: Vec<usize>,
}

impl LongestFirst {
    /// The ordering of sequences of `lengths` padded to `max_len` steps.
    pub(crate) fn new(lengths: &[usize], max_len: usize) -> Self {
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        let sorted: Vec<usize> = order.iter().map(|&i| lengths[i]).collect();
        let active = (0..max_len).map(|s| sorted.iter().filter(|&&n| n > s).count().max(1)).collect();
        let mut inverse = vec![0; lengths.len()];
        for (pos, &i) in order.iter().enumerate() {
            inverse[i] = pos;
        }
        Self { order, sorted, inverse, active }
    }
}

/// Per-step views `[G, n, K]` of a tracked `[T, G, B, K]` tensor, for recurrences that run
/// `G` independent chains over `B` sequences sorted longest first (`n` still running).
///
/// The backward pass of a slice allocates a gradient as large as the tensor sliced, so slicing
/// all `T` steps out of the whole tensor would cost O(T²) memory traffic. Slicing blocks of about
/// √T steps first, then steps out of each block, costs O(T^1.5).
pub(crate) struct StepSlicer {
    x: Tensor<4>,
    block_len: usize,
    block: Option<(usize, Tensor<4>)>,
}

impl StepSlicer {
    /// Views of `x`: `[T, G, B, K]`.
    pub(crate) fn new(x: Tensor<4>) -> Self {
        let block_len = (x.dims()[0] as f64).sqrt().ceil().max(1.0) as usize;
        Self { x, block_len, block: None }
    }

    /// Step `t` (steps are visited in increasing order), its first `n` sequences: `[G, n, K]`.
    pub(crate) fn step(&mut self, t: usize, n: usize) -> Tensor<3> {
        let [steps, g, _, k] = self.x.dims();
        let start = match &self.block {
            Some((start, _)) if t < start + self.block_len => *start,
            _ => {
                let end = (t + self.block_len).min(steps);
                self.block = Some((t, self.x.clone().slice([t..end, 0..g, 0..n])));
                t
            }
        };
        let block = &self.block.as_ref().expect("a block was cut").1;
        block.clone().slice([t - start..t - start + 1, 0..g, 0..n]).reshape([g, n, k])
    }
}

/// `[G, n, H]` rows of the sequences still running, padded with rows of `zeros` (`[G, B, H]`)
/// to all `B` sequences.
pub(crate) fn pad_rows(h: Tensor<3>, zeros: &Tensor<3>) -> Tensor<3> {
    let [g, n, _] = h.dims();
    let b = zeros.dims()[1];
    if n < b { Tensor::cat(vec![h, zeros.clone().slice([0..g, 0..b - n])], 1) } else { h }
}

/// Applies a flat row permutation to the steps of `[B, T, D]`.
pub(crate) fn permute_steps(x: Tensor<3>, index: Tensor<1, Int>) -> Tensor<3> {
    let [b, t, d] = x.dims();
    x.reshape([b * t, d]).select(0, index).reshape([b, t, d])
}

impl MaskedBiGru {
    /// Hidden size of each direction.
    pub fn d_hidden(&self) -> usize {
        self.d_hidden
    }

    /// Runs the GRU.
    ///
    /// * `x`: `[B, T, D]` padded inputs;
    /// * `lengths`: real steps per sequence (each at most `T`).
    ///
    /// Returns `[B, T, 2H]`, zero at padded steps.
    pub fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<3> {
        let t = x.dims()[1];
        let device = x.device();
        let LongestFirst { order, sorted, inverse, active } = LongestFirst::new(lengths, t);
        let is_sorted = order.iter().enumerate().all(|(pos, &i)| pos == i);

        let reverse = reverse_within_lengths(&sorted, t, &device);
        let mask = length_mask(&sorted, t, &device);
        let mut h = if is_sorted { x } else { x.select(0, index_tensor(&order, &device)) };
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                h = self.dropout.forward(h);
            }
            let reversed = permute_steps(h.clone(), reverse.clone());
            let [out_f, out_r] = self.run_layer(layer, h, reversed, &active);
            h = Tensor::cat(vec![out_f, permute_steps(out_r, reverse.clone())], 2) * mask.clone();
        }
        if is_sorted { h } else { h.select(0, index_tensor(&inverse, &device)) }
    }

    /// Both directions of one layer, stepped together: the direction is a batch dimension of
    /// every per-step matrix product. Inputs `[B, T, D]` sorted longest first (the reverse one
    /// already reversed); `active[s]` sequences run at step `s`. Returns the two `[B, T, H]`
    /// output sequences in the order they were computed, zero where a sequence has ended.
    fn run_layer(
        &self,
        layer: &BiGruLayer,
        x_forward: Tensor<3>,
        x_reverse: Tensor<3>,
        active: &[usize],
    ) -> [Tensor<3>; 2] {
        let [b, t, _] = x_forward.dims();
        let h_dim = self.d_hidden;
        let device = x_forward.device();
        // [T, 2, B, 3H]: input projections of every step, both directions
        let gi = Tensor::stack::<4>(
            vec![
                layer.forward.project_inputs(x_forward.swap_dims(0, 1)),
                layer.reverse.project_inputs(x_reverse.swap_dims(0, 1)),
            ],
            1,
        );
        let w_hh = Tensor::stack::<3>(
            vec![layer.forward.weight_hh.val().transpose(), layer.reverse.weight_hh.val().transpose()],
            0,
        ); // [2, H, 3H]
        let b_hh = Tensor::stack::<2>(vec![layer.forward.bias_hh.val(), layer.reverse.bias_hh.val()], 0).reshape([
            2,
            1,
            3 * h_dim,
        ]); // [2, 1, 3H]
        let mut h = Tensor::<3>::zeros([2, active[0], h_dim], &device);
        let padding = Tensor::<3>::zeros([2, b, h_dim], &device); // outputs of finished sequences
        let mut outputs = Vec::with_capacity(t);
        let mut steps = StepSlicer::new(gi);
        for (step, &n) in active.iter().enumerate() {
            let gi_t = steps.step(step, n);
            if h.dims()[1] > n {
                h = h.slice([0..2, 0..n]);
            }
            let gh = h.clone().matmul(w_hh.clone()) + b_hh.clone(); // [2, n, 3H]
            h = gru_update(gi_t, gh, h, h_dim);
            outputs.push(pad_rows(h.clone(), &padding));
        }
        let out = Tensor::stack::<4>(outputs, 0); // [T, 2, B, H]
        let direction = |d: usize| out.clone().slice([0..t, d..d + 1]).reshape([t, b, h_dim]).swap_dims(0, 1);
        [direction(0), direction(1)]
    }

    /// Visits every weight under PyTorch's `nn.GRU` names below `prefix`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.into_iter().enumerate() {
            layers.push(BiGruLayer {
                forward: layer.forward.visit_torch(p, prefix, &format!("l{k}"))?,
                reverse: layer.reverse.visit_torch(p, prefix, &format!("l{k}_reverse"))?,
            });
        }
        Ok(Self { layers, ..self })
    }
}

/// `tanh(x) = 2·σ(2x) − 1`: the same function, but its forward and backward passes use the
/// backend's fast sigmoid instead of the scalar `tanhf`, which dominated the CPU profile.
pub(crate) fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0)
}

/// One GRU update (PyTorch gate order, reset gate applied after the hidden product).
///
/// `gi`, `gh`: `[.., 3H]` input and hidden projections (biases included); `h`: `[.., H]`.
pub(crate) fn gru_update(gi: Tensor<3>, gh: Tensor<3>, h: Tensor<3>, h_dim: usize) -> Tensor<3> {
    let [a, b, _] = gi.dims();
    let rz = sigmoid(gi.clone().slice([0..a, 0..b, 0..2 * h_dim]) + gh.clone().slice([0..a, 0..b, 0..2 * h_dim]));
    let r = rz.clone().slice([0..a, 0..b, 0..h_dim]);
    let z = rz.slice([0..a, 0..b, h_dim..2 * h_dim]);
    let n = tanh(gi.slice([0..a, 0..b, 2 * h_dim..3 * h_dim]) + r * gh.slice([0..a, 0..b, 2 * h_dim..3 * h_dim]));
    n.clone() + z * (h - n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};

    #[test]
    fn reversal_index_flips_each_prefix() {
        let idx: Vec<i64> = reverse_within_lengths(&[3, 1], 3, &device()).into_data().iter::<i64>().collect();
        assert_eq!(idx, vec![2, 1, 0, 3, 4, 5]);
    }

    /// A scalar GRU step computed by hand from PyTorch's equations.
    fn reference_gru_step(w_ih: &[f32], w_hh: &[f32], b_ih: &[f32], b_hh: &[f32], x: f32, h: f32) -> f32 {
        let s = |v: f32| 1.0 / (1.0 + (-v).exp());
        let r = s(w_ih[0] * x + b_ih[0] + w_hh[0] * h + b_hh[0]);
        let z = s(w_ih[1] * x + b_ih[1] + w_hh[1] * h + b_hh[1]);
        let n = (w_ih[2] * x + b_ih[2] + r * (w_hh[2] * h + b_hh[2])).tanh();
        (1.0 - z) * n + z * h
    }

    #[test]
    fn matches_pytorch_equations_in_both_directions() {
        let d = device();
        let gru = MaskedBiGruConfig::new(1, 1).init(&d);
        let layer = &gru.layers[0];
        let get = |p: &Param<Tensor<2>>| values(p.val());
        let get1 = |p: &Param<Tensor<1>>| values(p.val());
        let xs = [0.5f32, -1.0, 2.0];
        let x = Tensor::<3>::from_data(TensorData::new(xs.to_vec(), [1, 3, 1]), &d);
        let out = values(gru.forward(x, &[3])); // [1, 3, 2]
        let (f, r) = (&layer.forward, &layer.reverse);
        let mut h = 0.0;
        for (t, &x) in xs.iter().enumerate() {
            h = reference_gru_step(&get(&f.weight_ih), &get(&f.weight_hh), &get1(&f.bias_ih), &get1(&f.bias_hh), x, h);
            assert!((out[2 * t] - h).abs() < 1e-6, "forward step {t}: {} vs {h}", out[2 * t]);
        }
        let mut h = 0.0;
        for (t, &x) in xs.iter().enumerate().rev() {
            h = reference_gru_step(&get(&r.weight_ih), &get(&r.weight_hh), &get1(&r.bias_ih), &get1(&r.bias_hh), x, h);
            assert!((out[2 * t + 1] - h).abs() < 1e-6, "reverse step {t}: {} vs {h}", out[2 * t + 1]);
        }
    }

    #[test]
    fn padding_changes_nothing_and_is_zero() {
        let d = device();
        let gru = MaskedBiGruConfig::new(4, 3).with_num_layers(2).init(&d);
        let alone = Tensor::<3>::random([1, 2, 4], Distribution::Normal(0.0, 1.0), &d);
        let out_alone = gru.forward(alone.clone(), &[2]);
        // the same sequence padded to length 5, padding filled with garbage
        let garbage = Tensor::<3>::random([1, 3, 4], Distribution::Normal(5.0, 1.0), &d);
        let out_padded = gru.forward(Tensor::cat(vec![alone, garbage], 1), &[2]);
        let head = values(out_padded.clone().slice([0..1, 0..2, 0..6]));
        for (a, b) in head.iter().zip(&values(out_alone)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(values(out_padded.slice([0..1, 2..5, 0..6])).iter().all(|v| *v == 0.0));
    }
}
