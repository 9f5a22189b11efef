//! build → export gives the input back: every field, and the float32 vector bits.

use serde_json::Value;

use crate::common::*;

fn read_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Compares records field by field, vectors as float32 bits.
fn assert_same_records(input: &[Value], exported: &[Value]) {
    assert_eq!(input.len(), exported.len());
    for (a, b) in input.iter().zip(exported) {
        let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
        assert_eq!(a.len(), b.len(), "same fields for {}", a["id"]);
        for (key, value) in a {
            if key == "vector" {
                let bits = |v: &Value| {
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| (x.as_f64().unwrap() as f32).to_bits())
                        .collect::<Vec<_>>()
                };
                assert_eq!(bits(value), bits(&b[key]), "vector of {}", a["id"]);
            } else {
                assert_eq!(value, &b[key], "field {key} of {}", a["id"]);
            }
        }
    }
}

#[test]
fn export_returns_every_input_line_bit_exact() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let exported = vecar(&["export", s(&car)]).ok();
    let input = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    assert_same_records(&read_jsonl(&input), &read_jsonl(&exported.stdout));
}

#[test]
fn metadata_of_any_json_type_round_trips() {
    let dir = tempdir();
    let input = dir.path().join("odd.jsonl");
    let lines = [
        r#"{"id": 7, "vector": [1, 0.5, -2.5e-8], "n": 1, "f": 1.5, "neg": -3, "big": 18446744073709551615, "b": true, "z": null, "list": [1, "a", {"x": []}], "obj": {"deep": {"deeper": "é ☃"}}}"#,
        r#"{"id": "seven", "vector": [0.1, 0.2, 0.3], "text": "", "f": 1.0, "zero": -0.0}"#,
        r#"{"id": -1, "vector": [3.4028235e38, -1.17549435e-38, 1e-45]}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let car = dir.path().join("odd.car");
    vecar(&["build", s(&input), "-o", s(&car)]).ok();
    let exported = vecar(&["export", s(&car)]).ok();
    assert_same_records(&read_jsonl(&lines.join("\n")), &read_jsonl(&exported.stdout));
    assert!(
        exported.stdout.contains("\"f\":1.0"),
        "a float stays a float: {}",
        exported.stdout
    );
}

#[test]
fn a_tree_of_link_nodes_reads_back_the_same() {
    let dir = tempdir();
    let flat = build_fixture(dir.path(), "flat.car", &["--threads", "1"]);
    let tree = build_fixture(dir.path(), "tree.car", &["--threads", "1", "--max-links", "2"]);
    vecar(&["verify", s(&tree)]).ok();
    let info = &vecar(&["info", "--json", s(&tree)]).ok().json_lines()[0];
    assert!(
        info["by_role"]["vectors-links"]["blocks"].as_u64().unwrap() >= 2,
        "vectors need a tree: {info}"
    );
    assert_eq!(
        vecar(&["export", s(&flat)]).ok().stdout,
        vecar(&["export", s(&tree)]).ok().stdout
    );
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let hits = |car: &std::path::Path| {
        let run = vecar_with_stdin(&["query", s(car)], &queries).ok();
        run.json_lines()
            .iter()
            .map(|h| (h["id"].clone(), h["score"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(hits(&flat), hits(&tree));
}

#[test]
fn stdin_input_and_stdout_output_match_files() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--threads", "1"]);
    let input = std::fs::read(fixture("docs.jsonl")).unwrap();
    let piped = std::process::Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(["build", "-", "-o", "-", "--threads", "1"])
        .stdin(std::fs::File::open(fixture("docs.jsonl")).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert_eq!(piped.stdout, std::fs::read(&car).unwrap());
    assert!(!input.is_empty());
    let from_stdin = vecar_with_stdin(&["verify", "-"], &piped.stdout).ok();
    assert!(from_stdin.stdout.contains("ok"));
}
