//! `vecar embed`, `build` with a provider, `query --text` and `add` of text-only lines, through
//! the external-command provider (tests/cli/bin/fake_embed.py, a deterministic stand-in model).

use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;

/// The command line of the stand-in model with `dims` dimensions and `mode` (see the script).
fn fake(dims: usize, mode: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/bin/fake_embed.py");
    format!("python3 {} {dims} {mode}", script.display())
}

#[test]
fn embed_adds_a_vector_to_lines_with_text_and_keeps_the_rest() {
    let dir = tempdir();
    let input = dir.path().join("in.jsonl");
    let kept = r#"{"id":"c","text":"has one","vector":[1,2,3,4]}"#;
    let lines = [
        r#"{"id":"a","text":"hello","n":1}"#,
        kept,
        r#"{"id":"b","text":"hello","vector":null}"#,
        r#"{"id":"d","note":"no text"}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let run = vecar(&["embed", s(&input), "--embed-cmd", &fake(4, "ok")]).ok();
    let out: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(out.len(), 4);
    assert_eq!(out[1], kept);
    assert_eq!(out[3], lines[3]);
    let a: Value = serde_json::from_str(out[0]).unwrap();
    let b: Value = serde_json::from_str(out[2]).unwrap();
    assert_eq!(a["n"], 1);
    let va = a["vector"].as_array().unwrap();
    assert_eq!(va.len(), 4);
    let norm: f64 = va.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-5, "the stand-in gives unit vectors: {norm}");
    assert_eq!(a["vector"], b["vector"], "same text, same vector");
}

#[test]
#[ignore = "needs Node: npm ci --prefix tests/interop"]
fn build_from_texts_records_the_provider_and_queries_by_text() {
    let dir = tempdir();
    let (input, _) = texts_only(dir.path(), 100);
    let car = dir.path().join("t.car");
    let cmd = fake(16, "ok");
    vecar(&["build", s(&input), "-o", s(&car), "--embed-cmd", &cmd]).ok();
    let info = &vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
    assert_eq!(
        info["embedding"],
        json!({"provider": "command", "model": cmd, "dimensions": 16})
    );
    let report = &crate::interop::js_check(&[&car])[0];
    assert_eq!((&report["ok"], &report["root"]), (&json!(true), &info["root"]));

    // The same as embedding first, then building.
    let embedded = dir.path().join("embedded.jsonl");
    let out = vecar(&["embed", s(&input), "--embed-cmd", &cmd]).ok().stdout;
    std::fs::write(&embedded, &out).unwrap();
    let plain = dir.path().join("plain.car");
    vecar(&["build", s(&embedded), "-o", s(&plain)]).ok();
    let exported = vecar(&["export", s(&car)]).ok().json_lines();
    let given: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported, given, "export gives the embedded lines back");
    assert!(vecar(&["info", "--json", s(&plain)]).ok().json_lines()[0]["embedding"].is_null());

    // --text embeds with the command given (never one the archive names); text lines on stdin too.
    vecar(&["query", s(&car), "--text", "x"]).fails_with("vecar never runs a command an archive names");
    let text = given[7]["text"].as_str().unwrap();
    let hits = vecar(&["query", s(&car), "-k", "1", "--text", text, "--embed-cmd", &cmd])
        .ok()
        .json_lines();
    assert_eq!(hits[0]["id"], given[7]["id"]);
    assert!(hits[0]["score"].as_f64().unwrap() > 0.999);
    let stdin = format!(
        "{}\n{}\n",
        json!({"id": "q", "text": given[3]["text"]}),
        json!({"id": "v", "vector": given[5]["vector"]})
    );
    let query = ["query", s(&car), "-k", "1", "--embed-cmd", &cmd];
    let hits = vecar_with_stdin(&query, stdin.as_bytes()).ok().json_lines();
    assert_eq!(hits.len(), 2);
    assert_eq!((&hits[0]["query"], &hits[0]["id"]), (&json!("q"), &given[3]["id"]));
    assert_eq!(hits[1]["id"], given[5]["id"]);
}

#[test]
fn a_different_model_is_refused_and_archives_without_one_say_so() {
    let dir = tempdir();
    let (car, _) = build_texts(dir.path(), "t.car", 20, &["--embed-cmd", &fake(16, "ok")]);
    vecar(&["query", s(&car), "--text", "x", "--embed-cmd", &fake(8, "ok")])
        .fails_with("--text: the model gave 8 numbers, expected 16");
    vecar(&["query", s(&car), "--text", "x", "--model", "/nonexistent"])
        .fails_with("was embedded by a command provider");

    let plain = build_fixture(dir.path(), "plain.car", &[]);
    vecar(&["query", s(&plain), "--text", "x"]).fails_with("records no embedding model");
    vecar_with_stdin(&["query", s(&plain)], b"{\"text\": \"x\"}\n")
        .fails_with("<stdin>:1: no vector to take, and its text cannot be embedded");
    vecar(&["merge", s(&plain), s(&car), "-o", s(&dir.path().join("m.car"))]).fails_with("cannot be merged");
}

#[test]
fn add_embeds_text_only_lines_with_the_recorded_model() {
    let dir = tempdir();
    let cmd = fake(16, "ok");
    let (base, _) = build_texts(dir.path(), "base.car", 30, &["--embed-cmd", &cmd]);
    let new = dir.path().join("new.jsonl");
    std::fs::write(&new, "{\"id\": \"n1\", \"text\": \"a new note\"}\n").unwrap();
    let next = dir.path().join("next.car");
    vecar(&["add", s(&base), s(&new), "-o", s(&next)]).fails_with("vecar never runs a command an archive names");
    vecar(&["add", s(&base), s(&new), "-o", s(&next), "--embed-cmd", &cmd]).ok();
    let query = [
        "query",
        s(&next),
        "-k",
        "1",
        "--text",
        "a new note",
        "--embed-cmd",
        &cmd,
    ];
    let hits = vecar(&query).ok().json_lines();
    assert_eq!(hits[0]["id"], "n1");

    let plain = build_fixture(dir.path(), "plain.car", &[]);
    vecar(&["add", s(&plain), s(&new), "-o", s(&next)])
        .fails_with("new.jsonl:1: no vector to take, and its text cannot be embedded");
}

#[test]
fn provider_failures_name_the_line() {
    let dir = tempdir();
    let (input, _) = texts_only(dir.path(), 5);
    let car = dir.path().join("t.car");
    let build = |mode: &str| vecar(&["build", s(&input), "-o", s(&car), "--embed-cmd", &fake(8, mode)]);
    build("short").fails_with("texts.jsonl:5: `python3");
    build("bad").fails_with("texts.jsonl:2: answer 2 of `python3");
    build("fail").fails_with("texts.jsonl:1-5: embedding failed:");
    assert!(!car.exists(), "no archive is left behind");
    let run = vecar(&["embed", s(&input)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("give a provider"));
}
