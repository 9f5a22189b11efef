//! Every command on a built fixture archive: outputs, exit codes, streams.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::*;

fn queries() -> Vec<u8> {
    std::fs::read(fixture("queries.jsonl")).unwrap()
}

#[test]
fn query_prints_k_ranked_hits_per_query() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let hits = vecar_with_stdin(&["query", s(&car), "-k", "5"], &queries())
        .ok()
        .json_lines();
    assert_eq!(hits.len(), 20 * 5);
    for group in hits.chunks(5) {
        let q = &group[0]["query"];
        assert!(q.as_str().unwrap().starts_with('q'));
        for (i, hit) in group.iter().enumerate() {
            assert_eq!(&hit["query"], q);
            assert_eq!(hit["rank"], i + 1);
            for field in ["id", "score", "distance", "text", "metadata", "cid"] {
                assert!(!hit[field].is_null(), "{field} in {hit}");
            }
            assert!(hit["cid"].as_str().unwrap().starts_with("bafyrei"));
            let (score, distance) = (hit["score"].as_f64().unwrap(), hit["distance"].as_f64().unwrap());
            assert!((score - (1.0 - distance)).abs() < 1e-12, "cos score is 1 - distance");
            assert!(hit["metadata"]["source"].as_str().is_some());
        }
        let scores: Vec<f64> = group.iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    }
}

#[test]
fn a_document_finds_itself_first_with_every_metric() {
    let dir = tempdir();
    let doc: Value = serde_json::from_str(
        std::fs::read_to_string(fixture("docs.jsonl"))
            .unwrap()
            .lines()
            .nth(42)
            .unwrap(),
    )
    .unwrap();
    let vector = doc["vector"].to_string();
    for metric in ["cos", "l2", "ip"] {
        for dtype in ["f32", "f16", "bf16", "i8"] {
            if dtype == "i8" && metric != "cos" {
                continue; // refused: i8 is for cos only
            }
            let car = build_fixture(
                dir.path(),
                &format!("{metric}-{dtype}.car"),
                &["--metric", metric, "--dtype", dtype],
            );
            for exact in [false, true] {
                let mut args = vec!["query", s(&car), "-k", "3", "--vector", &vector];
                if exact {
                    args.push("--exact");
                }
                let hits = vecar(&args).ok().json_lines();
                assert_eq!(hits.len(), 3);
                assert_eq!(hits[0]["id"], doc["id"], "{metric} {dtype} exact={exact}");
                assert_eq!(hits[0]["query"], 0);
                let expected_best = if metric == "l2" { 0.0 } else { 1.0 };
                assert!(
                    (hits[0]["score"].as_f64().unwrap() - expected_best).abs() < 1e-5,
                    "{metric}: {}",
                    hits[0]
                );
            }
        }
    }
}

#[test]
fn queries_may_be_bare_arrays_labelled_by_line() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let first: Value = serde_json::from_slice(queries().split(|&b| b == b'\n').next().unwrap()).unwrap();
    let input = format!("\n{}\n", first["vector"]);
    let hits = vecar_with_stdin(&["query", s(&car), "-k", "2"], input.as_bytes())
        .ok()
        .json_lines();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["query"], 1, "0-based line number of the second line");
}

#[test]
fn exact_and_indexed_queries_agree_on_scores() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let approx = vecar_with_stdin(&["query", s(&car)], &queries()).ok().json_lines();
    let exact = vecar_with_stdin(&["query", s(&car), "--exact"], &queries())
        .ok()
        .json_lines();
    let key = |h: &Value| (h["query"].to_string(), h["id"].to_string());
    let exact_scores: std::collections::HashMap<_, _> =
        exact.iter().map(|h| (key(h), h["score"].as_f64().unwrap())).collect();
    let mut shared = 0;
    for hit in &approx {
        if let Some(score) = exact_scores.get(&key(hit)) {
            assert_eq!(*score, hit["score"].as_f64().unwrap(), "same record, same exact score");
            shared += 1;
        }
    }
    assert!(
        shared as f64 >= 0.9 * approx.len() as f64,
        "recall on the fixture: {shared}/{}",
        approx.len()
    );
}

#[test]
fn query_errors_name_the_line() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let run = vecar_with_stdin(&["query", s(&car)], b"[1, 2, 3]\n");
    run.fails_with("<stdin>:1: vector has 3 numbers, expected 384");
    let run = vecar_with_stdin(&["query", s(&car)], b"\n{\"id\": 1}\n");
    assert!(run.stderr.contains("<stdin>:2: missing vector"), "{}", run.stderr);
    let run = vecar(&["query", s(&car), "--vector", "[1, \"x\"]"]);
    run.fails_with("--vector[1] must be a number");
}

#[test]
fn info_reports_the_archive() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--dtype", "i8", "--connectivity", "8"]);
    let info = &vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
    assert_eq!(info["count"], 300);
    assert_eq!(info["dimensions"], 384);
    assert_eq!(info["metric"], "cos");
    assert_eq!(info["dtype"], "i8");
    assert_eq!(info["connectivity"], 8);
    assert_eq!(
        (&info["expansion_add"], &info["expansion_search"]),
        (&128.into(), &64.into())
    );
    let keys: Vec<&str> = info.as_object().unwrap().keys().map(String::as_str).collect();
    let expected = "root format count dimensions metric index dtype connectivity expansion_add \
                    expansion_search engine fields embedding car file_bytes blocks block_bytes by_role";
    let expected: Vec<&str> = expected.split_whitespace().collect();
    assert_eq!(keys, expected, "an HNSW archive's keys, in their order");
    assert_eq!(info["file_bytes"], std::fs::metadata(&car).unwrap().len());
    assert_eq!(info["by_role"]["manifest"]["blocks"], 1);
    assert_eq!(info["by_role"]["vectors"]["bytes"], 300 * 384 * 4);
    let human = vecar(&["info", s(&car)]).ok().stdout;
    assert!(human.contains(info["root"].as_str().unwrap()));
}

#[test]
fn ls_lists_every_block_once_with_its_role() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let blocks = vecar(&["ls", "--json", s(&car)]).ok().json_lines();
    let info = &vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
    assert_eq!(blocks.len() as u64, info["blocks"].as_u64().unwrap());
    assert_eq!(blocks[0]["role"], "manifest");
    assert_eq!(blocks[0]["cid"], info["root"]);
    let roles: std::collections::BTreeSet<_> = blocks.iter().map(|b| b["role"].as_str().unwrap()).collect();
    for role in [
        "manifest",
        "records",
        "vectors",
        "index",
        "records-links",
        "vectors-links",
        "index-links",
    ] {
        assert!(roles.contains(role), "{role}");
    }
    assert!(blocks.iter().all(|b| b["size"].as_u64().unwrap() <= 1 << 20));
    let tsv = vecar(&["ls", s(&car)]).ok().stdout;
    let first: Vec<&str> = tsv.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        first,
        [
            info["root"].as_str().unwrap(),
            "dag-cbor",
            &blocks[0]["size"].to_string(),
            "manifest"
        ]
    );
}

#[test]
fn get_prints_records_by_id_and_fails_on_missing_ones() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let lines: Vec<Value> = std::fs::read_to_string(fixture("docs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (a, b) = (lines[250]["id"].as_str().unwrap(), lines[3]["id"].as_str().unwrap());
    let run = vecar(&["get", s(&car), a, b]).ok();
    let got = run.json_lines();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], a);
    assert_eq!(got[1]["text"], lines[3]["text"]);
    assert_eq!(got[1]["vector"].as_array().unwrap().len(), 384);
    let run = vecar(&["get", s(&car), "no-such-id", a]);
    run.fails_with("no record with id no-such-id");
    assert_eq!(run.json_lines().len(), 1);
}

#[test]
fn verify_accepts_a_sound_archive_and_names_a_corrupt_block() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
    let run = vecar(&["verify", s(&car)]).ok();
    assert!(run.stdout.contains(": ok, CARv1, root"), "{}", run.stdout);

    let mut bytes = std::fs::read(&car).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    let bad = dir.path().join("bad.car");
    std::fs::write(&bad, &bytes).unwrap();
    let run = vecar(&["verify", s(&bad)]);
    run.fails_with("is corrupt");

    let cut = dir.path().join("cut.car");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let run = vecar(&["verify", s(&cut)]);
    run.fails_with("cut.car");
}

#[test]
fn output_closed_early_ends_quietly() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let queries_file = fixture("queries.jsonl");
    for args in [vec!["export", s(&car)], vec!["query", s(&car), "-k", "300"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vecar"))
            .args(&args)
            .stdin(std::fs::File::open(&queries_file).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with('{'));
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args:?}");
    }
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    assert_eq!(vecar(&["build", "x.jsonl"]).code, 2);
    assert_eq!(vecar(&["query", "x.car", "--ef", "0"]).code, 2);
    assert_eq!(vecar(&["frobnicate"]).code, 2);
    let help = vecar(&["--help"]).ok().stdout;
    assert!(help.contains("Examples:") && help.contains("vecar build docs.jsonl -o docs.car"));
    for command in ["build", "query", "info", "verify", "export", "get", "ls"] {
        assert!(
            vecar(&[command, "--help"]).ok().stdout.contains("Example"),
            "{command} --help"
        );
    }
    let run = vecar(&["verify", "/no/such/file.car"]);
    run.fails_with("/no/such/file.car");
}
