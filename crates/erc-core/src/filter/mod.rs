//! Frame filters: which frames of an utterance a stream keeps.

pub mod frame_filter;

pub use frame_filter::*;
