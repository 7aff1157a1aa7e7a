//! ERC architectures assembled from `erc-core`, with presets and a registry.
//!
//! Adding a model: write it (a [`DialogueModel`](erc_core::DialogueModel)), implement
//! [`ModelFactory`] for a marker type, and add one line to [`registry::visit_model`].

pub mod baseline;
pub mod facialmmt;
pub mod maln;
pub mod mm_dfn;
pub mod modalities;
pub mod multiemo;
pub mod parity;
pub mod registry;

pub use baseline::{BiGruBaseline, BiGruConfig, BiGruModel, MlpBaseline, MlpConfig, MlpModel};
pub use facialmmt::{FacialMmt, FacialMmtConfig, FacialMmtModel};
pub use maln::{Maln, MalnConfig, MalnModel};
pub use mm_dfn::{MmDfn, MmDfnConfig, MmDfnModel};
pub use multiemo::{MultiEmo, MultiEmoConfig, MultiEmoModel};
pub use registry::{ModelFactory, ModelInfo, ModelVisitor, models, visit_model};
