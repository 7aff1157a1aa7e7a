//! Adversarial decomposition of modality features into a modality-specific and a common part
//! (MALN's AMDM): specific and common encoders, a modality discriminator trained through
//! gradient reversal ([`crate::loss::grad_reverse`]); the losses are in [`crate::loss::decomposition`].

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::import::{ImportError, TorchParams, import_linear, visit_in_order};

/// `S = tanh(Drop(W x + b))` (the reference's `specific_feature_extractor_{m}` Sequential).
#[derive(Module, Debug)]
pub struct SpecificEncoder {
    /// `.0`: `d_in → h`.
    pub linear: Linear,
    dropout: Dropout,
}

impl SpecificEncoder {
    /// Fresh weights `d_in → h`, dropout `dropout` before the tanh.
    pub fn new(d_in: usize, h: usize, dropout: f64, device: &Device) -> Self {
        Self { linear: LinearConfig::new(d_in, h).init(device), dropout: DropoutConfig::new(dropout).init() }
    }

    /// `[B, L, d_in]` → `[B, L, h]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.dropout.forward(self.linear.forward(x)).tanh()
    }

    /// Visits `prefix.0.{weight,bias}`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self { linear: import_linear(p, &format!("{prefix}.0"), self.linear)?, dropout: self.dropout })
    }
}

/// The common encoders of several modalities: a layer per modality, then one layer shared by
/// all: `C_m = tanh(Drop(W_sh · tanh(Drop(W_m x + b_m)) + b_sh))`.
#[derive(Module, Debug)]
pub struct CommonEncoder {
    /// `common_feature_extractor_{m}.0`, one per modality: `d_m → h`.
    pub per_modality: Vec<Linear>,
    /// `common_feature_extractor_share.0`: `h → h`.
    pub shared: Linear,
    dropout: Dropout,
}

impl CommonEncoder {
    /// Fresh weights for modalities of input widths `inputs`, common width `h`.
    pub fn new(inputs: &[usize], h: usize, dropout: f64, device: &Device) -> Self {
        Self {
            per_modality: inputs.iter().map(|&d| LinearConfig::new(d, h).init(device)).collect(),
            shared: LinearConfig::new(h, h).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// Modality `m`'s common part: `[B, L, d_m]` → `[B, L, h]`.
    pub fn forward(&self, m: usize, x: Tensor<3>) -> Tensor<3> {
        let first = self.dropout.forward(self.per_modality[m].forward(x)).tanh();
        self.dropout.forward(self.shared.forward(first)).tanh()
    }

    /// Visits `{prefixes[m]}.0.*` for the modalities in `order` (indices into the modalities
    /// as stored; `prefixes` is in stored order too), then `shared_prefix.0.*`.
    pub fn visit_torch(
        self,
        p: &mut impl TorchParams,
        prefixes: &[String],
        order: &[usize],
        shared_prefix: &str,
    ) -> Result<Self, ImportError> {
        let per_modality = visit_in_order(self.per_modality, order, |m, linear| {
            import_linear(p, &format!("{}.0", prefixes[m]), linear)
        })?;
        let shared = import_linear(p, &format!("{shared_prefix}.0"), self.shared)?;
        Ok(Self { per_modality, shared, dropout: self.dropout })
    }
}

/// Guesses which modality a feature came from: `W₂ ReLU(Drop(W₁ x + b₁)) + b₂` (dropout
/// before the ReLU, as the reference's `modal_discriminator` Sequential has it).
#[derive(Module, Debug)]
pub struct ModalityDiscriminator {
    /// `.0`: `h → d_hidden`.
    pub hidden: Linear,
    /// `.3`: `d_hidden → modalities`.
    pub out: Linear,
    dropout: Dropout,
}

impl ModalityDiscriminator {
    /// Fresh weights: features of width `h`, hidden width `d_hidden`, `modalities` outputs.
    pub fn new(h: usize, d_hidden: usize, modalities: usize, dropout: f64, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(h, d_hidden).init(device),
            out: LinearConfig::new(d_hidden, modalities).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// Logits over modalities: `[N, h]` → `[N, modalities]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(relu(self.dropout.forward(self.hidden.forward(x))))
    }

    /// Visits `prefix.0.*` and `prefix.3.*`.
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        Ok(Self {
            hidden: import_linear(p, &format!("{prefix}.0"), self.hidden)?,
            out: import_linear(p, &format!("{prefix}.3"), self.out)?,
            dropout: self.dropout,
        })
    }
}
