//! Recurrent layers that respect the utterance mask.

use burn::config::Config;
use burn::module::Module;
use burn::nn::gru::{Gru, GruConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

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
}

/// A multi-layer bidirectional GRU over padded dialogues that respects their lengths.
///
/// The reverse direction of dialogue `b` starts at its last real utterance (`n_b - 1`), so
/// padding never feeds it, and outputs at padded steps are zero. Gates follow PyTorch's GRU
/// (`reset_after = true`). Per layer the output is `[forward ‖ backward]`, `2·d_hidden` wide.
#[derive(Module, Debug)]
pub struct MaskedBiGru {
    forward: Vec<Gru>,
    backward: Vec<Gru>,
}

impl MaskedBiGruConfig {
    /// Builds the layer on a device.
    pub fn init(&self, device: &Device) -> MaskedBiGru {
        let mut forward = Vec::with_capacity(self.num_layers);
        let mut backward = Vec::with_capacity(self.num_layers);
        for layer in 0..self.num_layers {
            let d_in = if layer == 0 { self.d_input } else { 2 * self.d_hidden };
            forward.push(GruConfig::new(d_in, self.d_hidden, true).init(device));
            backward.push(GruConfig::new(d_in, self.d_hidden, true).init(device));
        }
        MaskedBiGru { forward, backward }
    }
}

/// Flat row permutation that reverses the first `n_b` steps of every dialogue and leaves
/// padded steps in place. It is its own inverse. Shape `[B * T]`.
pub fn reverse_within_lengths(lengths: &[usize], max_len: usize, device: &Device) -> Tensor<1, Int> {
    let mut index = Vec::with_capacity(lengths.len() * max_len);
    for (b, &n) in lengths.iter().enumerate() {
        for t in 0..max_len {
            let source = if t < n { n - 1 - t } else { t };
            index.push((b * max_len + source) as i64);
        }
    }
    let len = index.len();
    Tensor::from_data(TensorData::new(index, [len]), device)
}

/// Applies a flat row permutation to `[B, T, D]`.
fn permute_steps(x: Tensor<3>, index: Tensor<1, Int>) -> Tensor<3> {
    let [b, t, d] = x.dims();
    x.reshape([b * t, d]).select(0, index).reshape([b, t, d])
}

impl MaskedBiGru {
    /// Runs the GRU.
    ///
    /// * `x`: `[B, T, D]` padded inputs;
    /// * `mask`: `[B, T]`, 1.0 at real utterances (a prefix of each row);
    /// * `lengths`: real utterances per dialogue.
    ///
    /// Returns `[B, T, 2H]`, zero at padded steps.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2>, lengths: &[usize]) -> Tensor<3> {
        let [_, t, _] = x.dims();
        let reverse = reverse_within_lengths(lengths, t, &x.device());
        let mask3 = mask.unsqueeze_dim::<3>(2); // [B, T, 1]
        let mut h = x;
        for (fwd, bwd) in self.forward.iter().zip(&self.backward) {
            let out_f = fwd.forward(h.clone(), None);
            let out_b = permute_steps(bwd.forward(permute_steps(h, reverse.clone()), None), reverse.clone());
            h = Tensor::cat(vec![out_f, out_b], 2) * mask3.clone();
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn device() -> Device {
        crate::BackendKind::default_compiled().unwrap().device().unwrap()
    }

    #[test]
    fn reversal_index_flips_each_prefix() {
        let idx: Vec<i64> = reverse_within_lengths(&[3, 1], 3, &device()).into_data().iter::<i64>().collect();
        assert_eq!(idx, vec![2, 1, 0, 3, 4, 5]);
    }

    #[test]
    fn padding_changes_nothing_and_is_zero() {
        let d = device();
        let gru = MaskedBiGruConfig::new(4, 3).with_num_layers(2).init(&d);
        let alone = Tensor::<3>::random([1, 2, 4], Distribution::Normal(0.0, 1.0), &d);
        let out_alone = gru.forward(alone.clone(), Tensor::ones([1, 2], &d), &[2]);
        // the same dialogue padded to length 5, padding filled with garbage
        let garbage = Tensor::<3>::random([1, 3, 4], Distribution::Normal(5.0, 1.0), &d);
        let padded = Tensor::cat(vec![alone, garbage], 1);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0, 0.0], [1, 5]), &d);
        let out_padded = gru.forward(padded, mask, &[2]);
        let head: Vec<f32> = out_padded.clone().slice([0..1, 0..2, 0..6]).into_data().iter::<f32>().collect();
        let want: Vec<f32> = out_alone.into_data().iter::<f32>().collect();
        for (a, b) in head.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let tail: Vec<f32> = out_padded.slice([0..1, 2..5, 0..6]).into_data().iter::<f32>().collect();
        assert!(tail.iter().all(|v| *v == 0.0));
    }
}
