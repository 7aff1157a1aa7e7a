//! Graph-based dynamic fusion: a deep GCNII-style stack whose layers are gated by one LSTM
//! cell carrying memory from layer to layer (introduced by MM-DFN as its "GDF" module).
//!
//! With `H_0 = ReLU(fc(Drop(X)))` and `(m_0, c_0) = 0`, layer `k = 1..L` does
//!
//! ```text
//! (m_k, c_k) = LSTMCell(H_{k-1}, (m_{k-1}, c_{k-1}))
//! P   = Â m_k
//! θ_k = ln(λ/k + 1)
//! Z   = θ_k [P ‖ H_0] W_k + (1 − θ_k)((1 − α) P + α H_0)
//! H_k = Drop(ReLU(Z)) + H_{k-1}
//! ```
//!
//! and the output is `[Drop(X) ‖ H_L]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::graph::MultimodalGraph;
use crate::import::{ImportError, TorchParams, import_linear, import_param};
use crate::rnn::{LstmCell, LstmCellConfig, uniform_param};

/// Configuration of a [`DynamicFusion`] stack.
#[derive(Config, Debug)]
pub struct DynamicFusionConfig {
    /// Node feature size.
    pub d_input: usize,
    /// Hidden size of the stack.
    pub d_hidden: usize,
    /// Number of graph layers `L`.
    pub num_layers: usize,
    /// Initial-residual weight α.
    #[config(default = 0.2)]
    pub alpha: f64,
    /// Identity-mapping strength λ (`θ_k = ln(λ/k + 1)`).
    #[config(default = 0.5)]
    pub lambda: f64,
    /// Dropout rate at every site.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// The dynamic fusion stack. See the module docs.
#[derive(Module, Debug)]
pub struct DynamicFusion {
    /// Input projection `fc` (`d_input → d_hidden`).
    input: Linear,
    /// Per-layer weights `W_k`, `[2·d_hidden, d_hidden]` (rows act on `[P ‖ H_0]`).
    convs: Vec<Param<Tensor<2>>>,
    /// The gate shared by every layer.
    gate: LstmCell,
    dropout: Dropout,
    #[module(skip)]
    alpha: f64,
    #[module(skip)]
    lambda: f64,
}

/// Intermediate values of one pass, for checks against a reference.
#[derive(Debug, Clone, Default)]
pub struct FusionTrace {
    /// `fc(Drop(X))` before the ReLU, `[M·N, H]`.
    pub input_projection: Option<Tensor<2>>,
    /// Gate memory `m_k` per layer.
    pub memory: Vec<Tensor<2>>,
    /// Gate cell state `c_k` per layer.
    pub cell: Vec<Tensor<2>>,
    /// `Z_k` (before ReLU) per layer.
    pub conv: Vec<Tensor<2>>,
}

impl DynamicFusionConfig {
    /// Builds the stack, initialised as the reference does.
    pub fn init(&self, device: &Device) -> DynamicFusion {
        DynamicFusion {
            input: LinearConfig::new(self.d_input, self.d_hidden).init(device),
            // the reference's GraphConvolution draws U(±1/√out_features), as recurrent layers do
            convs: (0..self.num_layers)
                .map(|_| uniform_param([2 * self.d_hidden, self.d_hidden], self.d_hidden, device))
                .collect(),
            gate: LstmCellConfig::new(self.d_hidden, self.d_hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            alpha: self.alpha,
            lambda: self.lambda,
        }
    }
}

impl DynamicFusion {
    /// Runs the stack over node features `x` `[M·N, D]` on `graph`; returns `[M·N, D + H]`.
    /// With `trace`, intermediate values are kept and returned.
    pub fn forward(&self, x: Tensor<2>, graph: &MultimodalGraph, trace: bool) -> (Tensor<2>, FusionTrace) {
        let mut record = FusionTrace::default();
        let x = self.dropout.forward(x);
        let projected = self.input.forward(x.clone());
        if trace {
            record.input_projection = Some(projected.clone());
        }
        let h0 = relu(projected);
        let mut h = self.dropout.forward(h0.clone());
        let [n, _] = h.dims();
        let mut state = self.gate.zero_state(n, &h.device());
        for (k, weight) in self.convs.iter().enumerate() {
            state = self.gate.step(h.clone(), state);
            let p = graph.propagate(state.h.clone());
            let theta = (self.lambda / (k + 1) as f64 + 1.0).ln();
            let support = Tensor::cat(vec![p.clone(), h0.clone()], 1).matmul(weight.val());
            let z = support.mul_scalar(theta)
                + (p.mul_scalar(1.0 - self.alpha) + h0.clone().mul_scalar(self.alpha)).mul_scalar(1.0 - theta);
            if trace {
                record.memory.push(state.h.clone());
                record.cell.push(state.c.clone());
                record.conv.push(z.clone());
            }
            h = self.dropout.forward(relu(z)) + h;
        }
        (Tensor::cat(vec![x, h], 1), record)
    }

    /// Visits the weights under the reference's names below `prefix` (`convs.{k}.weight`,
    /// `fcs.0`, `rnn`), in its `state_dict` order.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let mut convs = Vec::with_capacity(self.convs.len());
        for (k, w) in self.convs.into_iter().enumerate() {
            convs.push(import_param(p, &format!("{prefix}.convs.{k}.weight"), w, false)?);
        }
        let input = import_linear(p, &format!("{prefix}.fcs.0"), self.input)?;
        let gate = self.gate.visit_torch(p, &format!("{prefix}.rnn"))?;
        Ok(Self { input, convs, gate, dropout: self.dropout, alpha: self.alpha, lambda: self.lambda })
    }
}
