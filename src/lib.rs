//! **erc** — multimodal emotion recognition in conversations, in pure Rust on burn.
//!
//! This facade re-exports the workspace crates:
//!
//! * [`core`]: devices and backends, the dialogue batch, losses, metrics, layers;
//! * [`data`]: the dataset format, batching, transcript import, synthetic data;
//! * [`models`]: the architectures and their registry;
//! * [`text`]: BERT-family sentence encoders (transcripts → utterance vectors);
//! * [`train`]: the training loop with validation-based selection.

pub use erc_core as core;
pub use erc_data as data;
pub use erc_models as models;
pub use erc_text as text;
pub use erc_train as train;
