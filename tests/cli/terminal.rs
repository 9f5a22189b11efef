//! What a person at a terminal sees: progress rates (stderr on a
//! pseudo-terminal, see `pty.rs`).

use crate::common::*;
use crate::pty::{on_terminal, Stdin};

/// `n` records of two dimensions, one JSON object per line.
fn small_records(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\": {i}, \"vector\": [{}, {}]}}\n", i % 97, i % 89))
        .collect()
}

/// Every rate the terminal shows (`65,891` of `65,891/s`).
fn rates(terminal: &str) -> Vec<&str> {
    terminal
        .match_indices("/s")
        .map(|(at, _)| {
            let before = &terminal[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
                .map_or(0, |i| i + 1);
            &terminal[start..at]
        })
        .collect()
}

#[test]
fn progress_rates_are_rounded_for_people() {
    let dir = tempdir();
    let input = dir.path().join("many.jsonl");
    std::fs::write(&input, small_records(200_000)).unwrap();
    let car = dir.path().join("many.car");
    let screen = on_terminal(&["build", s(&input), "-o", s(&car)], Stdin::Pipe(b""));
    assert_eq!(screen.code, 0, "{}", screen.terminal);
    let rates = rates(&screen.terminal);
    assert!(
        rates.iter().any(|r| r.len() >= 5 && r.contains(',')),
        "a rate of thousands per second, with a separator: {rates:?} in {:?}",
        screen.terminal
    );
    for rate in &rates {
        let whole = !rate.contains('.');
        let small = rate.len() == 3 && rate.as_bytes()[1] == b'.';
        assert!(whole || small, "{rate}/s is not rounded: {:?}", screen.terminal);
    }
}
