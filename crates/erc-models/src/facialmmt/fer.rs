//! The facial-expression (FER) head: a face embedding → 7-way expression logits, trained on an
//! auxiliary face-emotion set; its distributions drive FacialMMT's frame filter. The reference
//! puts it on a Swin-tiny backbone over face crops (`linear`, `classifier` in
//! `best_swin_*.pt`); here it reads the per-face embeddings the dataset carries.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use erc_core::head::{MlpHead, MlpHeadConfig};
use erc_core::import::{ImportError, TorchNamed, TorchParams};

/// `Linear(in, hidden) → ReLU → Linear(hidden, classes)`: erc-core's [`MlpHead`] without
/// dropout, under the reference's names.
#[derive(Module, Debug)]
pub struct FerHead {
    /// `linear` and `classifier`.
    pub head: MlpHead,
}

/// Configuration of a [`FerHead`]; [`FerHeadConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct FerHeadConfig {
    /// Width of a face embedding.
    pub input: usize,
    /// Hidden width (64).
    pub hidden: usize,
    /// Expression classes (7).
    pub classes: usize,
}

impl FerHeadConfig {
    /// Fresh weights.
    pub fn init(&self, device: &Device) -> FerHead {
        FerHead { head: MlpHeadConfig::new(self.input, self.hidden, self.classes, 0.0).init(device) }
    }
}

impl FerHead {
    /// Logits `[.., classes]` of face embeddings `[.., input]` (any leading shape).
    pub fn forward<const D: usize>(&self, faces: Tensor<D>) -> Tensor<D> {
        self.head.forward(faces)
    }
}

impl TorchNamed for FerHead {
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        Ok(Self { head: self.head.visit_torch_named(p, "linear", "classifier")? })
    }
}
