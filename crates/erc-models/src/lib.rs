//! The four papers' architectures (and two baselines) assembled from `erc-core`'s layers, with
//! their presets, their reference plumbing and a registry.
//!
//! One folder per paper — [`mm_dfn`], [`multiemo`], [`maln`], [`facialmmt`] — each with
//! `mod.rs` (the network, its forward pass reading like the paper's figure, and its
//! [`ModelFactory`]), `config.rs` (the configuration and one preset table) and `reference`
//! (what exists only to match the authors' PyTorch code: parameter names, dead parameters,
//! their configuration format, the parity run). [`baseline`] holds the BiGRU and MLP baselines.
//!
//! [`registry`] is the one place that names every model: [`ModelConfig`] is any registered
//! model's typed configuration, [`AnyModel`] any built model. Adding a model: write its folder
//! and add one line to the registry.

#![deny(missing_docs)]

pub mod baseline;
pub mod facialmmt;
pub mod maln;
pub mod mm_dfn;
pub mod modalities;
pub mod multiemo;
pub mod parity;
pub mod registry;

pub use baseline::{BiGruBaseline, BiGruConfig, BiGruModel, MlpBaseline, MlpConfig, MlpModel};
pub use erc_core::{Capabilities, ModelFactory, Preset};
pub use facialmmt::{FacialMmt, FacialMmtConfig, FacialMmtModel};
pub use maln::{Maln, MalnConfig, MalnModel};
pub use mm_dfn::{MmDfn, MmDfnConfig, MmDfnModel};
pub use multiemo::{MultiEmo, MultiEmoConfig, MultiEmoModel};
pub use registry::{AnyModel, ModelConfig, ModelInfo, models, run_parity};
