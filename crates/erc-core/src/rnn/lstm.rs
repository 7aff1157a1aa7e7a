//! An LSTM cell with PyTorch's weight layout, stepped by hand.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::import::{ImportError, TorchParams, import_param};
use crate::rnn::masked::{tanh, uniform_param};

/// One LSTM cell, PyTorch layout (`torch.nn.LSTM` with one layer, gate rows `[i; f; g; o]`),
/// stepped by hand so the caller decides what a "time step" is.
#[derive(Module, Debug)]
pub struct LstmCell {
    /// `[4H, D]` input-to-hidden weights.
    pub weight_ih: Param<Tensor<2>>,
    /// `[4H, H]` hidden-to-hidden weights.
    pub weight_hh: Param<Tensor<2>>,
    /// `[4H]` input bias.
    pub bias_ih: Param<Tensor<1>>,
    /// `[4H]` hidden bias.
    pub bias_hh: Param<Tensor<1>>,
    #[module(skip)]
    d_hidden: usize,
}

/// The state an [`LstmCell`] carries: hidden output `h` and cell memory `c`, each `[N, H]`.
#[derive(Debug, Clone)]
pub struct LstmState {
    /// Hidden output.
    pub h: Tensor<2>,
    /// Cell memory.
    pub c: Tensor<2>,
}

/// Configuration of a [`LstmCell`]; [`LstmCellConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct LstmCellConfig {
    /// Input size.
    pub d_input: usize,
    /// Hidden size.
    pub d_hidden: usize,
}

impl LstmCellConfig {
    /// A fresh cell for input size `d_input` and hidden size `d_hidden`, initialised as PyTorch does.
    pub fn init(&self, device: &Device) -> LstmCell {
        let Self { d_input, d_hidden } = self.clone();
        LstmCell {
            weight_ih: uniform_param([4 * d_hidden, d_input], d_hidden, device),
            weight_hh: uniform_param([4 * d_hidden, d_hidden], d_hidden, device),
            bias_ih: uniform_param([4 * d_hidden], d_hidden, device),
            bias_hh: uniform_param([4 * d_hidden], d_hidden, device),
            d_hidden,
        }
    }
}

impl LstmCell {
    /// The all-zero state for `n` rows.
    pub fn zero_state(&self, n: usize, device: &Device) -> LstmState {
        LstmState { h: Tensor::zeros([n, self.d_hidden], device), c: Tensor::zeros([n, self.d_hidden], device) }
    }

    /// One step: `x` `[N, D]`, previous state → next state.
    pub fn step(&self, x: Tensor<2>, state: LstmState) -> LstmState {
        let hd = self.d_hidden;
        let (w_ih, w_hh) = (self.weight_ih.val(), self.weight_hh.val());
        let bias = self.bias_ih.val() + self.bias_hh.val();
        // One product per gate with a slice of the weights: slicing the (small) weights instead
        // of the (large) `[N, 4H]` pre-activations keeps the backward pass cheap.
        let gate = |k: usize| {
            let rows = k * hd..(k + 1) * hd;
            let [d_in] = [w_ih.dims()[1]];
            x.clone().matmul(w_ih.clone().slice([rows.clone(), 0..d_in]).transpose())
                + state.h.clone().matmul(w_hh.clone().slice([rows.clone(), 0..hd]).transpose())
                + bias.clone().slice([rows]).unsqueeze::<2>()
        };
        let c = sigmoid(gate(1)) * state.c.clone() + sigmoid(gate(0)) * tanh(gate(2));
        let h = sigmoid(gate(3)) * tanh(c.clone());
        LstmState { h, c }
    }

    /// Visits the four tensors under PyTorch's `nn.LSTM` names (`prefix.weight_ih_l0`, …).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            weight_ih: import_param(p, &format!("{prefix}.weight_ih_l0"), self.weight_ih, false)?,
            weight_hh: import_param(p, &format!("{prefix}.weight_hh_l0"), self.weight_hh, false)?,
            bias_ih: import_param(p, &format!("{prefix}.bias_ih_l0"), self.bias_ih, false)?,
            bias_hh: import_param(p, &format!("{prefix}.bias_hh_l0"), self.bias_hh, false)?,
            d_hidden: self.d_hidden,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::TensorData;

    #[test]
    fn lstm_cell_matches_pytorch_equations() {
        let d = device();
        let cell = LstmCellConfig::new(1, 1).init(&d);
        let w_ih = values(cell.weight_ih.val());
        let w_hh = values(cell.weight_hh.val());
        let b: Vec<f32> =
            values(cell.bias_ih.val()).iter().zip(values(cell.bias_hh.val())).map(|(a, b)| a + b).collect();
        let state = LstmState {
            h: Tensor::from_data(TensorData::new(vec![0.3f32], [1, 1]), &d),
            c: Tensor::from_data(TensorData::new(vec![-0.7f32], [1, 1]), &d),
        };
        let x = 1.5f32;
        let next = cell.step(Tensor::from_data(TensorData::new(vec![x], [1, 1]), &d), state);
        let s = |v: f32| 1.0 / (1.0 + (-v).exp());
        let g = |k: usize| w_ih[k] * x + w_hh[k] * 0.3 + b[k];
        let c = s(g(1)) * -0.7 + s(g(0)) * g(2).tanh();
        let h = s(g(3)) * c.tanh();
        assert!((values(next.c)[0] - c).abs() < 1e-6);
        assert!((values(next.h)[0] - h).abs() < 1e-6);
    }
}
