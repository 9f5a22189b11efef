//! Filters, thresholds, query-by-id, several archives and output formats.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn queries() -> Vec<u8> {
    std::fs::read(fixture("queries.jsonl")).unwrap()
}

fn docs() -> Vec<Value> {
    std::fs::read_to_string(fixture("docs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fixture with a numeric field `n` (row % 100) and `even` (a boolean) added.
fn numbered_fixture(dir: &Path) -> PathBuf {
    let lines: Vec<String> = docs()
        .into_iter()
        .enumerate()
        .map(|(i, mut doc)| {
            doc["n"] = (i % 100).into();
            if i % 2 == 0 {
                doc["even"] = true.into();
            }
            doc.to_string()
        })
        .collect();
    let input = dir.join("numbered.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let car = dir.join("numbered.car");
    vecar(&["build", s(&input), "-o", s(&car)]).ok();
    car
}

fn hits(args: &[&str]) -> Vec<Value> {
    vecar_with_stdin(args, &queries()).ok().json_lines()
}

#[test]
fn filtered_hits_pass_the_filter_and_match_an_exact_filtered_search() {
    let dir = tempdir();
    let car = numbered_fixture(dir.path());
    for (filter, passes) in [
        (
            "source = fortune",
            &(|h: &Value| h["metadata"]["source"] == "fortune") as &dyn Fn(&Value) -> bool,
        ),
        ("n < 50", &|h| h["metadata"]["n"].as_u64().unwrap() < 50),
        ("n >= 10 and n <= 14", &|h| {
            (10..=14).contains(&h["metadata"]["n"].as_u64().unwrap())
        }),
        ("source in [python-doc, \"fortune\"] or n = 99", &|h| {
            ["python-doc", "fortune"].contains(&h["metadata"]["source"].as_str().unwrap()) || h["metadata"]["n"] == 99
        }),
        ("not even exists", &|h| h["metadata"].get("even").is_none()),
        ("source != fortune and not (n > 3)", &|h| {
            h["metadata"]["source"] != "fortune" && h["metadata"]["n"].as_u64().unwrap() <= 3
        }),
    ] {
        let approx = hits(&["query", s(&car), "--filter", filter]);
        let exact = hits(&["query", s(&car), "--filter", filter, "--exact"]);
        assert_eq!(approx.len(), 20 * 10, "{filter}: 10 hits for each of the 20 queries");
        assert!(approx.iter().all(passes), "{filter}");
        let key = |h: &Value| (h["query"].to_string(), h["id"].to_string());
        let exact_keys: HashSet<_> = exact.iter().map(key).collect();
        let shared = approx.iter().filter(|h| exact_keys.contains(&key(h))).count();
        assert!(shared >= 190, "{filter}: {shared}/200 of the exact filtered hits");
    }
}

#[test]
fn a_selective_filter_still_returns_every_match() {
    let dir = tempdir();
    let car = numbered_fixture(dir.path());
    let found = hits(&["query", s(&car), "--filter", "n = 7"]);
    assert_eq!(found.len(), 20 * 3, "3 records have n = 7");
    let found = hits(&["query", s(&car), "--filter", "n = 1000"]);
    assert!(found.is_empty());
}

#[test]
fn a_filter_no_record_passes_says_why_on_stderr_and_still_exits_0() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let vector = docs()[0]["vector"].to_string();
    let query = |filter: &str| vecar(&["query", s(&car), "--filter", filter, "--vector", &vector]).ok();
    for (filter, hint) in [
        (
            "source = fortun",
            r#"vecar: no record has source = "fortun"; did you mean "fortune"?"#,
        ),
        (
            "source in [pyton-doc, x]",
            r#"no record has source in ["pyton-doc", "x"]; did you mean "python-doc"?"#,
        ),
        (
            "source = 'no such source'",
            r#"vecar: no record has source = "no such source""#,
        ),
        (
            "sorce = fortune",
            r#"no record has a field "sorce"; did you mean "source"? fields: id, source, text"#,
        ),
        (
            "source = fortune and year > 2000",
            r#"no record has a field "year"; fields: id, source, text"#,
        ),
    ] {
        let run = query(filter);
        assert_eq!(run.stdout, "", "{filter}: no hits");
        assert!(run.stderr.contains(hint), "{filter}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{filter}: said once: {}", run.stderr);
    }
    for filter in ["source = fortune", "source != fortun", "not sorce exists"] {
        let run = query(filter);
        assert!(
            !run.stdout.is_empty() && run.stderr.is_empty(),
            "{filter}: {}",
            run.stderr
        );
    }
    // The id field has too many values to guess among: the hint only says none matches.
    let run = query("id = doc-0000");
    assert!(run.stderr.contains(r#"no record has id = "doc-0000""#) && !run.stderr.contains("did you mean"));
}

#[test]
fn a_malformed_filter_is_a_usage_error_pointing_at_the_column() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let run = vecar(&["query", s(&car), "--filter", "year >= ", "--vector", "[1]"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--filter: expected a value at column 9"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("year >= \n          ^"), "{}", run.stderr);
}

#[test]
fn min_score_drops_weaker_hits() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let all = hits(&["query", s(&car)]);
    let strong = hits(&["query", s(&car), "--min-score", "0.35"]);
    let expected: Vec<&Value> = all.iter().filter(|h| h["score"].as_f64().unwrap() >= 0.35).collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(strong.iter().collect::<Vec<_>>(), expected);
    let l2 = build_fixture(dir.path(), "l2.car", &["--metric", "l2"]);
    let near = hits(&["query", s(&l2), "--min-score", "-1.2"]);
    assert!(near.iter().all(|h| h["distance"].as_f64().unwrap() <= 1.2));
}

#[test]
fn like_queries_with_a_stored_vector_and_leaves_the_record_out() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let doc = &docs()[42];
    let id = doc["id"].as_str().unwrap();
    let like = vecar(&["query", s(&car), "--like", id, "-k", "5"]).ok().json_lines();
    let by_vector = vecar(&["query", s(&car), "--vector", &doc["vector"].to_string(), "-k", "6"])
        .ok()
        .json_lines();
    assert_eq!(by_vector[0]["id"], id);
    let ids = |hits: &[Value]| hits.iter().map(|h| h["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&like), ids(&by_vector[1..]));
    assert!(like.iter().all(|h| h["query"] == id));
    vecar(&["query", s(&car), "--like", "nobody"]).fails_with("--like: no record with id nobody");
}

#[test]
fn several_archives_answer_as_one() {
    let dir = tempdir();
    let lines: Vec<String> = std::fs::read_to_string(fixture("docs.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, lines[..100].join("\n")).unwrap();
    std::fs::write(&b, lines[100..].join("\n")).unwrap();
    let (a_car, b_car) = (dir.path().join("a.car"), dir.path().join("b.car"));
    vecar(&["build", s(&a), "-o", s(&a_car)]).ok();
    vecar(&["build", s(&b), "-o", s(&b_car)]).ok();
    let whole = build_fixture(dir.path(), "whole.car", &[]);

    let split = hits(&["query", s(&a_car), s(&b_car), "--exact"]);
    let one = hits(&["query", s(&whole), "--exact"]);
    let strip = |h: &Value| {
        (
            h["query"].clone(),
            h["rank"].clone(),
            h["id"].clone(),
            h["score"].clone(),
        )
    };
    assert_eq!(
        split.iter().map(strip).collect::<Vec<_>>(),
        one.iter().map(strip).collect::<Vec<_>>()
    );
    let first_ids: HashSet<String> = docs()[..100]
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    for hit in &split {
        let in_a = first_ids.contains(hit["id"].as_str().unwrap());
        assert_eq!(hit["archive"], if in_a { s(&a_car) } else { s(&b_car) }, "{hit}");
    }
    assert!(
        one[0].get("archive").is_none(),
        "one archive: no archive field by default"
    );

    let other = dir.path().join("small.jsonl");
    std::fs::write(&other, "{\"id\": 1, \"vector\": [1, 2]}\n").unwrap();
    let small = dir.path().join("small.car");
    vecar(&["build", s(&other), "-o", s(&small)]).ok();
    vecar(&["query", s(&whole), s(&small), "--vector", "[1]"]).fails_with("cannot be searched together");
}

#[test]
fn output_formats_and_fields() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let jsonl = hits(&["query", s(&car), "-k", "3"]);
    let json: Value = serde_json::from_str(
        &vecar_with_stdin(&["query", s(&car), "-k", "3", "--format", "json"], &queries())
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap(), &jsonl);

    let picked = hits(&["query", s(&car), "-k", "3", "--fields", "id,score,source"]);
    let first = picked[0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["id", "score", "source"]);
    assert_eq!(first["source"], jsonl[0]["metadata"]["source"]);

    let tsv = vecar_with_stdin(
        &[
            "query",
            s(&car),
            "-k",
            "3",
            "--format",
            "tsv",
            "--fields",
            "rank,id,text",
        ],
        &queries(),
    )
    .ok()
    .stdout;
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["rank", "id", "text"]);
    assert_eq!(rows.len(), 1 + 60);
    assert!(rows[1..].iter().all(|r| r.len() == 3));
    assert_eq!(rows[1][1], jsonl[0]["id"]);

    let table = std::process::Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(["query", s(&car), "-k", "3", "--format", "table", "--like", "doc-00000"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let widths: HashMap<usize, usize> = table.lines().map(|l| (l.chars().count(), 1)).collect();
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(widths.keys().all(|&w| w <= 80), "{table}");
    assert!(table.contains('…') && table.starts_with("rank"), "{table}");
}

#[test]
fn metadata_fields_come_in_the_archives_order_and_a_field_named_twice_once() {
    // Records are canonical DAG-CBOR: keys sorted by length, then bytes.
    let dir = tempdir();
    let input = dir.path().join("meta.jsonl");
    std::fs::write(
        &input,
        "{\"zeta\": 1, \"id\": \"a\", \"alpha\": 2, \"text\": \"t\", \"mid\": 3, \"vector\": [1, 0]}\n",
    )
    .unwrap();
    let car = dir.path().join("meta.car");
    vecar(&["build", s(&input), "-o", s(&car)]).ok();
    let run = vecar(&[
        "query",
        s(&car),
        "--vector",
        "[1, 0]",
        "--fields",
        "metadata,id,alpha,id,text",
    ])
    .ok();
    assert_eq!(
        run.stdout,
        "{\"metadata\":{\"mid\":3,\"zeta\":1,\"alpha\":2},\"id\":\"a\",\"alpha\":2,\"text\":\"t\"}\n"
    );
}

#[test]
fn the_same_archive_twice_is_refused_not_answered_twice() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let copy = dir.path().join("copy.car");
    std::fs::copy(&car, &copy).unwrap();
    let vector = docs()[0]["vector"].to_string();
    for other in [&car, &copy] {
        let run = vecar(&["query", s(&car), s(other), "--vector", &vector]);
        run.fails_with("are the same archive");
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn like_across_archives_uses_the_one_vector_they_hold_or_refuses() {
    let dir = tempdir();
    let docs = docs();
    let write = |name: &str, docs: &[Value]| {
        let input = dir.path().join(format!("{name}.jsonl"));
        let lines: Vec<String> = docs.iter().map(Value::to_string).collect();
        std::fs::write(&input, lines.join("\n")).unwrap();
        let car = dir.path().join(format!("{name}.car"));
        vecar(&["build", s(&input), "-o", s(&car)]).ok();
        car
    };
    // a and b both hold doc 60 (and 50..100), with the same vector.
    let (a, b) = (write("a", &docs[..100]), write("b", &docs[50..150]));
    let id = docs[60]["id"].as_str().unwrap();
    let like = vecar(&["query", s(&a), s(&b), "--like", id, "-k", "5"])
        .ok()
        .json_lines();
    assert!(like.iter().all(|h| h["id"] != id), "{like:?}");
    let by_vector = vecar(&[
        "query",
        s(&a),
        s(&b),
        "--vector",
        &docs[60]["vector"].to_string(),
        "-k",
        "7",
    ])
    .ok()
    .json_lines();
    let others: Vec<&Value> = by_vector.iter().filter(|h| h["id"] != id).map(|h| &h["id"]).collect();
    assert_eq!(like.iter().map(|h| &h["id"]).collect::<Vec<_>>(), others[..5]);

    // c holds doc 60 with another vector: which one would be the query is ambiguous.
    let mut moved = docs[60].clone();
    moved["vector"][0] = (moved["vector"][0].as_f64().unwrap() + 0.5).into();
    let c = write("c", &[moved, docs[61].clone()]);
    let run = vecar(&["query", s(&a), s(&c), "--like", id]);
    run.fails_with(&format!(
        "--like: id {id} has one vector in {} and another in {}",
        s(&a),
        s(&c)
    ));
    assert!(run.stdout.is_empty());
}
