//! Classification heads.

pub mod mlp;

pub use mlp::*;
