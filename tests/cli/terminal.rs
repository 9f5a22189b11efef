//! What a person at a terminal sees: progress rates, hints, spinners and tables (stderr, or
//! stdout too, on a pseudo-terminal, see `pty.rs`).

use crate::common::*;
use crate::pty::{all_on_terminal, on_terminal, Stdin};

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

#[test]
fn a_terminal_stdin_gets_one_hint_and_vector_queries_no_embed_spinner() {
    let dir = tempdir();
    let input = dir.path().join("small.jsonl");
    std::fs::write(&input, small_records(1000)).unwrap();
    let car = dir.path().join("small.car");
    vecar(&["build", s(&input), "-o", s(&car)]).ok();
    let queries: String = (0..50).map(|i| format!("[{i}, 1]\n")).collect();
    let hint = "vecar: reading queries from stdin (one JSON per line; Ctrl-D to end)";

    let typed = on_terminal(&["query", s(&car), "-k", "1"], Stdin::Typed(queries.as_bytes()));
    assert_eq!(typed.code, 0, "{}", typed.terminal);
    assert_eq!(typed.stdout.lines().count(), 50);
    assert_eq!(typed.terminal.matches(hint).count(), 1, "{:?}", typed.terminal);
    assert!(
        !typed.terminal.contains("texts ("),
        "no embed spinner: {:?}",
        typed.terminal
    );

    let piped = on_terminal(&["query", s(&car), "-k", "1"], Stdin::Pipe(queries.as_bytes()));
    assert_eq!(piped.code, 0, "{}", piped.terminal);
    assert_eq!(piped.terminal, "", "nothing on the terminal for piped vector queries");

    let quiet = on_terminal(&["query", s(&car), "-q"], Stdin::Typed(b"[1, 2]\n"));
    assert_eq!((quiet.code, quiet.terminal.as_str()), (0, ""));

    // An archive without a model: a text query fails at its line, with no spinner before.
    let text = on_terminal(&["query", s(&car)], Stdin::Typed(b"{\"text\": \"a b\"}\n"));
    assert_eq!(text.code, 1, "{}", text.terminal);
    assert!(text.terminal.contains("<stdin>:1:"), "{:?}", text.terminal);
    assert!(
        !text.terminal.contains("texts ("),
        "no embed spinner: {:?}",
        text.terminal
    );
}

#[test]
fn the_embed_spinner_shows_only_when_texts_are_embedded() {
    let dir = tempdir();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/bin/fake_embed.py");
    let model = format!("python3 {} 4 ok", s(&script));
    let (texts, vectors) = (dir.path().join("texts.jsonl"), dir.path().join("vectors.jsonl"));
    std::fs::write(&texts, "{\"id\": 1, \"text\": \"a b\"}\n{\"id\": 2, \"text\": \"c\"}\n").unwrap();
    std::fs::write(&vectors, small_records(3)).unwrap();
    let embedded = on_terminal(&["embed", s(&texts), "--embed-cmd", &model], Stdin::Pipe(b""));
    assert_eq!(embedded.code, 0, "{}", embedded.terminal);
    assert!(embedded.terminal.contains("embed"), "{:?}", embedded.terminal);
    assert!(embedded.terminal.contains("texts ("), "{:?}", embedded.terminal);
    let passed = on_terminal(&["embed", s(&vectors), "--embed-cmd", &model], Stdin::Pipe(b""));
    assert_eq!(passed.code, 0, "{}", passed.terminal);
    assert_eq!(passed.stdout.lines().count(), 3);
    assert!(!passed.terminal.contains("texts ("), "{:?}", passed.terminal);
}

#[test]
fn a_table_fits_the_terminal_cutting_text_and_never_ids() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "a.car", &[]);
    let like = ["query", s(&car), "-k", "5", "--like", "doc-00000"];
    let table = [&like[..], &["--format", "table"]].concat();
    let hits = vecar(&[&like[..], &["--fields", "id,text"]].concat()).ok().json_lines();
    let ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    let long_text = hits.iter().map(|h| h["text"].as_str().unwrap()).max_by_key(|t| t.len());
    assert!(long_text.unwrap().len() > 100, "a text to cut");

    // Off a terminal, the table is whole, with rank, id, score and text.
    let whole = vecar(&table).ok().stdout;
    let header: Vec<&str> = whole.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["rank", "id", "score", "text"]);
    assert!(!whole.contains('…'), "{whole}");
    for hit in &hits {
        let text = hit["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(whole.contains(&text), "{text} in {whole}");
    }

    // $COLUMNS, and a terminal, set the width; text gives way, ids never do.
    let narrow = vecar_with_env(&table, b"", &[("COLUMNS", "60")]).ok().stdout;
    let screen = all_on_terminal(&table);
    assert_eq!(screen.code, 0, "{}", screen.terminal);
    for (out, width) in [(narrow, 60), (screen.terminal.replace('\r', ""), 100)] {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        assert!(lines.iter().all(|l| l.chars().count() <= width), "{width}: {out}");
        assert!(out.contains('…'), "{out}");
        for (line, id) in lines[1..].iter().zip(&ids) {
            assert!(line.split_whitespace().any(|word| word == *id), "{id} whole in {line}");
        }
    }
    let tiny = vecar_with_env(&table, b"", &[("COLUMNS", "12")]).ok().stdout;
    for (line, id) in tiny.lines().skip(1).zip(&ids) {
        assert!(line.split_whitespace().any(|word| word == *id), "{id} whole in {line}");
    }

    // --fields brings metadata and the CID.
    let fields = vecar(&[&table[..], &["--fields", "rank,id,metadata,cid"]].concat())
        .ok()
        .stdout;
    let header: Vec<&str> = fields.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["rank", "id", "metadata", "cid"]);
    assert!(fields.contains("bafy") && fields.contains("\"source\""), "{fields}");
}
