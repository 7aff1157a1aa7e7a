//! The facial-expression (FER) head: a face embedding → 7-way expression logits, trained on an
//! auxiliary face-emotion set; its distributions drive FacialMMT's frame filter. The reference
//! puts it on a Swin-tiny backbone over face crops (`linear`, `classifier` in
//! `best_swin_*.pt`); here it reads the per-face embeddings the dataset carries.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use erc_core::head::MlpHead;
use erc_core::import::{ImportError, TorchNamed, TorchParams};

/// `Linear(in, hidden) → ReLU → Linear(hidden, classes)`: erc-core's [`MlpHead`] without
/// dropout, under the reference's names.
#[derive(Module, Debug)]
pub struct FerHead {
    /// `linear` and `classifier`.
    pub head: MlpHead,
}

impl FerHead {
    /// Fresh weights.
    pub fn new(input: usize, hidden: usize, classes: usize, device: &Device) -> Self {
        Self { head: MlpHead::new(input, hidden, classes, 0.0, device) }
    }

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
