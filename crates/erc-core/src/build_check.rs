//! Noticing an unoptimised build.
//!
//! A crate that depends on erc builds its dependencies with its own profile: in a debug build
//! without `[profile.dev.package."*"] opt-level = 3` (this workspace's setting, which does not
//! reach a dependent crate), burn's kernels compile at opt-level 0 and run many times slower
//! (README, "As a library", has the measurement). erc-core is then compiled at opt-level 0 too,
//! which its build script records; the first dialogue batch built prints one warning naming
//! the fix. `ERC_NO_OPT_WARNING=1` silences it.

use std::sync::Once;

/// The environment variable that silences the warning (any non-empty value but `0`).
pub const SILENCE_VAR: &str = "ERC_NO_OPT_WARNING";

/// The optimisation level erc-core was compiled at (`0`, `1`, `2`, `3`, `s` or `z`).
pub const OPT_LEVEL: &str = env!("ERC_CORE_OPT_LEVEL");

/// The warning for a build at `opt_level`, unless optimised or `silenced`.
pub fn unoptimised_warning(opt_level: &str, silenced: bool) -> Option<String> {
    (opt_level == "0" && !silenced).then(|| {
        format!(
            "erc: warning: erc and burn were compiled without optimisation (opt-level 0), so the \
             model kernels run many times slower than they should. Add to your Cargo.toml\n  \
             [profile.dev.package.\"*\"]\n  opt-level = 3\nor build with --release. Set {SILENCE_VAR}=1 \
             to silence this."
        )
    })
}

/// Whether the environment silences the warning.
pub fn silenced() -> bool {
    std::env::var(SILENCE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Prints the warning to stderr, once per process, when this build is unoptimised.
pub fn warn_once_if_unoptimised() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(message) = unoptimised_warning(OPT_LEVEL, silenced()) {
            eprintln!("{message}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unoptimised_unsilenced_build_warns_and_the_warning_names_the_fix() {
        let message = unoptimised_warning("0", false).expect("opt-level 0 warns");
        assert!(message.contains("[profile.dev.package.\"*\"]") && message.contains("opt-level = 3"));
        assert!(message.contains("--release") && message.contains(SILENCE_VAR));
        assert_eq!(unoptimised_warning("0", true), None);
        for level in ["1", "2", "3", "s", "z"] {
            assert_eq!(unoptimised_warning(level, false), None, "{level}");
        }
        // this workspace's own builds are optimised (tests at opt-level 1, deps at 3)
        assert_ne!(OPT_LEVEL, "0");
    }
}
