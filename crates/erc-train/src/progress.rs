//! Progress bars for long work (hidden when stderr is not a terminal or when disabled).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` steps with a prefix, or a hidden bar when `enabled` is false.
pub fn bar(len: usize, prefix: &str, enabled: bool) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if !enabled {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
