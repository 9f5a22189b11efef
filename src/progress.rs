//! Progress bars and notes for people on stderr: bars only when stderr is a terminal, and
//! neither with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences every progress bar made after this call.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints a line for people (a summary, a hint) on stderr, unless `--quiet` was given.
pub fn say(line: &str) {
    if !is_quiet() {
        crate::output::note(format_args!("vecar: {line}"));
    }
}

fn target() -> ProgressDrawTarget {
    if is_quiet() || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A bar for `len` units of work, with rate and ETA.
pub fn bar(len: u64, label: &str, unit: &str) -> ProgressBar {
    let template = format!("{{prefix:>6}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, ETA {{eta}})");
    let style = ProgressStyle::with_template(&template)
        .expect("valid template")
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len), target())
        .with_style(style)
        .with_prefix(label.to_string())
}

/// A counter for work of unknown size, with rate.
pub fn counter(label: &str, unit: &str) -> ProgressBar {
    let template = format!("{{prefix:>6}} {{spinner}} {{human_pos}} {unit} ({{per_sec}})");
    let style = ProgressStyle::with_template(&template).expect("valid template");
    ProgressBar::with_draw_target(None, target())
        .with_style(style)
        .with_prefix(label.to_string())
}

/// A counter of bytes moved, with rate.
pub fn bytes(label: &str) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{prefix:>6} {spinner} {bytes} ({bytes_per_sec})").expect("valid template");
    ProgressBar::with_draw_target(None, target())
        .with_style(style)
        .with_prefix(label.to_string())
}
