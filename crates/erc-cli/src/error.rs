//! The CLI's error type.

/// A boxed error with a readable message.
pub type CliError = Box<dyn std::error::Error>;
