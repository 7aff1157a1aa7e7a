//! The erc dataset format, its streaming reader, batching, and the ways to make datasets:
//! JSONL transcript import and the synthetic conversation generator.
//!
//! A dataset is a directory (see `docs/dataset-format.md`):
//!
//! ```text
//! DATASET/
//!   manifest.json            name, classes, modalities, speakers, dialogues, splits
//!   offsets.npy              int64 [dialogues + 1]  utterance offsets of each dialogue
//!   speakers.npy             int64 [utterances]     index into manifest.speakers
//!   labels.npy               int64 [utterances]     class index, -1 = unlabelled
//!   features/<modality>.npy  float32 [utterances, dim], memory-mapped
//!   text.jsonl               optional: one JSON string per utterance
//! ```

#![deny(missing_docs)]

pub mod batcher;
pub mod dataset;
pub mod error;
pub mod face_emotions;
pub mod manifest;
pub mod matrix;
pub mod synth;
pub mod transcripts;
pub mod writer;

pub use batcher::{BatchPlan, Batcher};
pub use dataset::{Dataset, DialogueInfo};
pub use error::DataError;
pub use face_emotions::{FaceEmotionSet, affwild2_to_meld};
pub use manifest::{Manifest, ModalityEntry};
pub use synth::{SequenceLayout, SynthConfig, SynthShape};
pub use transcripts::{ImportOptions, for_each_transcript, import_jsonl};
pub use writer::{DatasetBuilder, DialogueRecord, RowSink};
