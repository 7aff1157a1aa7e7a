//! The facial-expression (FER) head: a face embedding → 7-way expression logits, trained on an
//! auxiliary face-emotion set; its distributions drive FacialMMT's frame filter. The reference
//! puts it on a Swin-tiny backbone over face crops (`linear`, `classifier` in
//! `best_swin_*.pt`); here it reads the per-face embeddings the dataset carries.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear};

/// `Linear(in, hidden) → ReLU → Linear(hidden, classes)`.
#[derive(Module, Debug)]
pub struct FerHead {
    /// `linear`.
    pub hidden: Linear,
    /// `classifier`.
    pub classifier: Linear,
}

impl FerHead {
    /// Fresh weights.
    pub fn new(input: usize, hidden: usize, classes: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(input, hidden).init(device),
            classifier: LinearConfig::new(hidden, classes).init(device),
        }
    }

    /// Logits `[.., classes]` of face embeddings `[.., input]` (any leading shape).
    pub fn forward<const D: usize>(&self, faces: Tensor<D>) -> Tensor<D> {
        self.classifier.forward(relu(self.hidden.forward(faces)))
    }
}

impl TorchNamed for FerHead {
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        Ok(Self {
            hidden: import_linear(p, "linear", self.hidden)?,
            classifier: import_linear(p, "classifier", self.classifier)?,
        })
    }
}
