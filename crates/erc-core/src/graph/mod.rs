//! Dialogue graphs: multimodal graph construction with angular-similarity edges
//! ([`dialogue_graph`]) and graph-based dynamic fusion, a GCNII stack gated by an LSTM cell
//! ([`dynamic_fusion`]).

pub mod dialogue_graph;
pub mod dynamic_fusion;

pub use dialogue_graph::*;
pub use dynamic_fusion::*;
