//! Adversarial decomposition of modality features into a modality-specific and a common part
//! (introduced by MALN as AMDM): specific and common encoders, a modality discriminator trained through
//! gradient reversal ([`crate::loss::grad_reverse`]); the losses are in [`crate::loss::decomposition`].

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::import::{ImportError, TorchParams, import_linear, visit_in_order};

/// `S = tanh(Drop(W x + b))` (the reference's `specific_feature_extractor_{m}` Sequential).
#[derive(Module, Debug)]
pub struct SpecificEncoder {
    /// `.0`: `d_in → h`.
    pub linear: Linear,
    dropout: Dropout,
}

/// Configuration of a [`SpecificEncoder`]; [`SpecificEncoderConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct SpecificEncoderConfig {
    /// Input width.
    pub d_in: usize,
    /// Output width `h`.
    pub h: usize,
    /// Dropout before the tanh.
    pub dropout: f64,
}

impl SpecificEncoderConfig {
    /// Fresh weights `d_in → h`, dropout `dropout` before the tanh.
    pub fn init(&self, device: &Device) -> SpecificEncoder {
        let Self { d_in, h, dropout } = self.clone();
        SpecificEncoder { linear: LinearConfig::new(d_in, h).init(device), dropout: DropoutConfig::new(dropout).init() }
    }
}

impl SpecificEncoder {
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

/// Configuration of a [`CommonEncoder`]; [`CommonEncoderConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct CommonEncoderConfig {
    /// Input width of each modality.
    pub inputs: Vec<usize>,
    /// Common width `h`.
    pub h: usize,
    /// Dropout before each tanh (after the per-modality and after the shared layer).
    pub dropout: f64,
}

impl CommonEncoderConfig {
    /// Fresh weights for modalities of input widths `inputs`, common width `h`.
    pub fn init(&self, device: &Device) -> CommonEncoder {
        let Self { inputs, h, dropout } = self.clone();
        CommonEncoder {
            per_modality: inputs.iter().map(|&d| LinearConfig::new(d, h).init(device)).collect(),
            shared: LinearConfig::new(h, h).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }
}

impl CommonEncoder {
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

/// The modality discriminator: a [`MlpHead`](crate::head::MlpHead) `h → d_hidden → modalities`
/// whose logits guess which modality a feature came from. (The reference's
/// `modal_discriminator` puts its dropout before the ReLU, the head after it: the two are equal,
/// since the ReLU commutes with dropout's non-negative scaling.)
pub type ModalityDiscriminator = crate::head::MlpHead;
