//! Helpers shared by the CLI test files.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `erc` binary in `cwd`.
pub fn erc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_erc")).args(args).current_dir(cwd).output().unwrap()
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The command failed with a message containing `needle`, not with a panic.
pub fn assert_clean_failure(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "expected failure: {t}");
    assert!(!t.contains("panicked"), "a panic, not a message: {t}");
    assert!(t.contains(needle), "expected `{needle}` in: {t}");
}
