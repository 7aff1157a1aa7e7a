//! `erc models`: the registered models and their presets.

use crate::error::CliError;

/// Runs `erc models`.
pub fn run() -> Result<(), CliError> {
    for m in erc_models::models() {
        println!("{:<8} {}  (presets: {})", m.name, m.description, m.presets.join(", "));
    }
    Ok(())
}
