//! Records the optimisation level erc-core is compiled at ([`OPT_LEVEL`] of its profile), for
//! the warning that burn's kernels run unoptimised (`erc_core::build_check`).
//!
//! [`OPT_LEVEL`]: https://doc.rust-lang.org/cargo/reference/environment-variables.html

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=ERC_CORE_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
