//! Progress bars and notes for people on stderr: bars only when stderr is a terminal, and
//! neither with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

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

/// A style from `template`, whose `{rate}` is the rate rounded for people.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("valid template")
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(state.per_sec()));
        })
}

/// Steps per second as people read them: `65,891/s`, `12/s`, with one decimal below 10
/// (`2.5/s`); indicatif's own `{per_sec}` prints three (`65,890.887/s`).
fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        "?/s".into()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{}/s", HumanCount(per_sec.round() as u64))
    }
}

/// A bar for `len` units of work, with rate and ETA.
pub fn bar(len: u64, label: &str, unit: &str) -> ProgressBar {
    let template = format!("{{prefix:>6}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{rate}}, ETA {{eta}})");
    let style = style(&template).progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len), target())
        .with_style(style)
        .with_prefix(label.to_string())
}

/// A counter for work of unknown size, with rate.
pub fn counter(label: &str, unit: &str) -> ProgressBar {
    let template = format!("{{prefix:>6}} {{spinner}} {{human_pos}} {unit} ({{rate}})");
    let style = style(&template);
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

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_are_rounded_for_people() {
        assert_eq!(rate(65_890.887), "65,891/s");
        assert_eq!(rate(1_234_567.5), "1,234,568/s");
        assert_eq!(rate(12.4), "12/s");
        assert_eq!(rate(2.54), "2.5/s");
        assert_eq!(rate(0.0), "0.0/s");
        assert_eq!(rate(f64::INFINITY), "?/s");
    }
}
