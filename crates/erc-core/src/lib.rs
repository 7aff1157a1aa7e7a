//! Backend-generic building blocks for multimodal emotion recognition in conversations.
//!
//! `erc-core` knows nothing about files or training loops. It holds the layer library, grouped
//! by kind, and the contracts every model and the trainer share.
//!
//! Layers, each written as a layer any model may use:
//! * [`attention`]: scaled dot-product attention, cross-modal stacks, the cross-modal
//!   transformer, affine attention, text ↔ audio-visual fusion, additive-attention pooling;
//! * [`graph`]: dialogue graphs and graph-based dynamic fusion;
//! * [`rnn`]: PyTorch-layout recurrent cells, the masked bidirectional GRU, DialogueRNN and
//!   speaker-level context;
//! * [`encoder`]: the BERT-style layer, frame-sequence encoders, CLS and speaker-characteristic
//!   encoders, the specific/common encoders of modality decomposition;
//! * [`loss`]: classification losses, SWFC and Soft-HGR, orthogonality and discriminator losses,
//!   gradient reversal;
//! * [`head`]: classification heads; [`filter`]: frame filters.
//!
//! Contracts: device selection ([`backend`]) and the unoptimised-build warning ([`build_check`]), the padded dialogue batch ([`batch`]), the model
//! contract and factory ([`model`]), errors ([`error`]), metrics ([`metrics`]), per-utterance
//! sequences ([`sequences`]), loading of reference PyTorch weights ([`import`]) and the
//! serialisable training hyper-parameters that model presets carry ([`training`]).

#![deny(missing_docs)]

pub mod attention;
pub mod backend;
pub mod batch;
pub mod build_check;
pub mod encoder;
pub mod error;
pub mod filter;
pub mod graph;
pub mod head;
pub mod import;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod rnn;
pub mod sequences;
#[cfg(test)]
mod test_util;
pub mod training;

/// The burn version this workspace is built against, re-exported so downstream crates
/// use exactly the same one.
pub use burn;

pub use backend::{BackendError, BackendKind};
pub use batch::{DataSpec, DialogueBatch, ModalityDim, PAD_LABEL};
pub use error::ModelError;
pub use metrics::{ClassMetrics, ClassificationReport, MetricKind};
pub use model::{Capabilities, DialogueModel, LossTerm, ModelFactory, ModelOutput, Preset};
