//! Backend-generic building blocks for multimodal emotion recognition in conversations.
//!
//! `erc-core` knows nothing about files or training loops. It holds what every model and
//! the trainer share: device selection ([`backend`]), the padded dialogue batch
//! ([`batch`]), the model contract ([`model`]), losses ([`loss`]), metrics ([`metrics`]),
//! reusable layers (recurrent cells [`rnn`], speaker-level context [`speaker`], dialogue graphs
//! [`graph`], graph-based dynamic fusion [`fusion`], DialogueRNN context [`dialogue_rnn`],
//! cross-modal attention [`attention`], the BERT-style encoder layer [`bert`], MALN's transformer blocks [`transformer`], speaker
//! characteristics [`speaker_characteristics`] and adversarial decomposition [`decomposition`],
//! a classification head [`head`], additive-attention pooling [`pooling`], FacialMMT's
//! facial-expression frame filter [`frame_filter`], frame-sequence encoder [`frame_encoder`] and
//! cross-modal transformer [`crossmodal_transformer`]), representation losses ([`representation_loss`]), loading of reference PyTorch weights
//! ([`import`]) and the serialisable training hyper-parameters that model presets carry
//! ([`training`]).

pub mod attention;
pub mod backend;
pub mod batch;
pub mod bert;
pub mod crossmodal_transformer;
pub mod decomposition;
pub mod dialogue_rnn;
pub mod frame_encoder;
pub mod frame_filter;
pub mod fusion;
pub mod graph;
pub mod head;
pub mod import;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod pooling;
pub mod representation_loss;
pub mod rnn;
pub mod sequences;
pub mod speaker;
pub mod speaker_characteristics;
#[cfg(test)]
mod test_util;
pub mod training;
pub mod transformer;

/// The burn version this workspace is built against, re-exported so downstream crates
/// use exactly the same one.
pub use burn;

pub use backend::{BackendError, BackendKind};
pub use batch::{DataSpec, DialogueBatch, ModalityDim, PAD_LABEL};
pub use metrics::{ClassMetrics, ClassificationReport, MetricKind};
pub use model::{DialogueModel, LossTerm, ModelError, ModelOutput};
