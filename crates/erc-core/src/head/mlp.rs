//! A two-layer classification head: `W₂ Drop(ReLU(W₁ x + b₁)) + b₂`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::import::{ImportError, TorchParams, import_linear};

/// `W₂ Drop(ReLU(W₁ x + b₁)) + b₂`, the `Sequential(Linear, ReLU, Dropout, Linear)` of the
/// references (PyTorch names `.0` and `.3`).
#[derive(Module, Debug)]
pub struct MlpHead {
    /// `d_in → d_hidden`.
    pub hidden: Linear,
    /// `d_hidden → d_out`.
    pub out: Linear,
    dropout: Dropout,
}

/// Configuration of a [`MlpHead`]; [`MlpHeadConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct MlpHeadConfig {
    /// Input width.
    pub d_in: usize,
    /// Hidden width.
    pub d_hidden: usize,
    /// Output width.
    pub d_out: usize,
    /// Dropout after the ReLU.
    pub dropout: f64,
}

impl MlpHeadConfig {
    /// Fresh weights, dropout `dropout` after the ReLU.
    pub fn init(&self, device: &Device) -> MlpHead {
        let Self { d_in, d_hidden, d_out, dropout } = self.clone();
        MlpHead {
            hidden: LinearConfig::new(d_in, d_hidden).init(device),
            out: LinearConfig::new(d_hidden, d_out).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }
}

impl MlpHead {
    /// `[..., d_in]` → `[..., d_out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.out.forward(self.dropout.forward(relu(self.hidden.forward(x))))
    }

    /// Visits `prefix.0.*` and `prefix.3.*` (a `Sequential` with the two linears at 0 and 3).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        self.visit_torch_named(p, &format!("{prefix}.0"), &format!("{prefix}.3"))
    }

    /// Visits the two linears under their full names.
    pub fn visit_torch_named(self, p: &mut impl TorchParams, hidden: &str, out: &str) -> Result<Self, ImportError> {
        Ok(Self {
            hidden: import_linear(p, hidden, self.hidden)?,
            out: import_linear(p, out, self.out)?,
            dropout: self.dropout,
        })
    }
}
