//! Naming metadata fields (one rule for --filter and --fields, dotted keys in backticks) and
//! printing them safely (no control character of an archive reaches the terminal).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::*;

/// Builds `records` (JSON objects given a 2-d vector each) into `dir/name`.
fn build(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    let input = dir.join(format!("{name}.jsonl"));
    let lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r["vector"] = json!([1.0, i as f64 + 1.0]);
            r.to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let car = dir.join(name);
    vecar(&["build", s(&input), "-o", s(&car)]).ok();
    car
}

/// The ids of the hits of `query car --vector [1,1]` with `flags`, sorted.
fn ids(car: &Path, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["query", s(car), "--vector", "[1, 1]", "-k", "10", "--fields", "id"];
    args.extend_from_slice(flags);
    let mut ids: Vec<String> = vecar(&args)
        .ok()
        .json_lines()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn dots_reach_nested_fields_and_backticks_name_a_dotted_key_in_filters_and_fields() {
    let dir = tempdir();
    let car = build(
        dir.path(),
        "dots.car",
        &[
            json!({"id": "r1", "a.b": "flat", "a": {"b": "nested"}}),
            json!({"id": "r2", "a.b": "flat2"}),
            json!({"id": "r3", "a": {"b": "nested3"}, "x y": {"`q`": 1}}),
        ],
    );
    assert_eq!(ids(&car, &["--filter", "a.b exists"]), ["r1", "r3"]);
    assert_eq!(ids(&car, &["--filter", "`a.b` exists"]), ["r1", "r2"]);
    assert_eq!(ids(&car, &["--filter", "`a.b` = flat2"]), ["r2"]);
    assert_eq!(ids(&car, &["--filter", "`x y`.```q``` = 1"]), ["r3"]);
    let fields = |spec: &str| -> Vec<Value> {
        let args = ["query", s(&car), "--vector", "[1, 1]", "-k", "10", "--fields", spec];
        let mut hits = vecar(&args).ok().json_lines();
        hits.sort_by_key(|h| h["id"].as_str().unwrap().to_string());
        hits
    };
    let nested = fields("id,a.b");
    assert_eq!(nested[0], json!({"id": "r1", "a.b": "nested"}));
    assert_eq!(nested[1], json!({"id": "r2", "a.b": null}));
    let flat = fields("id,`a.b`,`x y`.```q```");
    assert_eq!(flat[0], json!({"id": "r1", "`a.b`": "flat", "`x y`.```q```": null}));
    assert_eq!(flat[2], json!({"id": "r3", "`a.b`": null, "`x y`.```q```": 1}));
    // A backquoted name may hold a comma.
    let car = build(dir.path(), "comma.car", &[json!({"id": "c", "a,b": 5})]);
    let args = ["query", s(&car), "--vector", "[1, 1]", "--fields", "id,`a,b`"];
    assert_eq!(vecar(&args).ok().json_lines()[0], json!({"id": "c", "`a,b`": 5}));
    // An unclosed backtick is a usage error in both.
    let run = vecar(&["query", s(&car), "--vector", "[1, 1]", "--fields", "`a.b"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = vecar(&["query", s(&car), "--vector", "[1, 1]", "--filter", "`a.b = 1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn the_rule_for_field_names_is_in_query_help() {
    let help = vecar(&["query", "--help"]).ok().stdout;
    assert!(help.contains("backticks"), "{help}");
}

/// True when `text` holds a control character other than newline and tab.
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[test]
fn control_characters_from_an_archive_are_escaped_in_table_tsv_info_and_diff() {
    let dir = tempdir();
    let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31mred\u{7f}";
    let records = [
        json!({"id": "e\u{1b}[31m", "text": hostile, "m": hostile}),
        json!({"id": "plain", "text": "ok"}),
    ];
    let car = build(dir.path(), "esc.car", &records);
    for format in ["table", "tsv"] {
        let args = ["query", s(&car), "--vector", "[1, 1]", "--format", format];
        let out = vecar_with_env(&args, b"", &[("COLUMNS", "1000")]).ok().stdout;
        assert!(!has_control(&out), "{format}: {out:?}");
        assert!(
            out.contains("\\x1b]0;pwned\\x07\\x1b[2J\\u009b31mred\\x7f"),
            "{format}: {out}"
        );
    }
    // JSON formats stay JSON: serde escapes the C0 characters and the record reads back whole.
    let args = ["query", s(&car), "--vector", "[1, 1]", "--fields", "id,text"];
    let hits = vecar(&args).ok().json_lines();
    assert!(hits.iter().any(|h| h["text"] == hostile));
    let other = build(dir.path(), "other.car", &records[1..]);
    let diff = vecar(&["diff", s(&other), s(&car)]).ok().stdout;
    assert!(!has_control(&diff), "{diff:?}");
    assert!(diff.contains("+ e\\x1b[31m"), "{diff}");
    let texts = dir.path().join("texts.jsonl");
    std::fs::write(&texts, "{\"id\":1,\"text\":\"hello\"}\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/bin/fake_embed.py");
    let cmd = format!("python3 {} 4 ok # \u{1b}[2J", script.display());
    let embedded = dir.path().join("embedded.car");
    vecar(&["build", s(&texts), "-o", s(&embedded), "--embed-cmd", &cmd]).ok();
    let info = vecar(&["info", s(&embedded)]).ok().stdout;
    assert!(!has_control(&info), "{info:?}");
}
