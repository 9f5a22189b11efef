//! Numbers at their limits and arguments at their extremes (issue 15): huge `-k`, deep filters,
//! non-finite thresholds.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Builds an archive of `lines` (JSONL, one record each) in `dir`, with extra build flags.
fn archive_of(dir: &Path, name: &str, lines: &[&str], flags: &[&str]) -> PathBuf {
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let car = dir.join(format!("{name}.car"));
    let mut args = vec!["build", s(&input), "-o", s(&car)];
    args.extend_from_slice(flags);
    vecar(&args).ok();
    car
}

/// Runs vecar with its address space limited to `mib` MiB, so an allocation sized by an argument
/// rather than by the archive fails instead of paging the machine to death.
fn vecar_limited(mib: u64, args: &[&str], stdin: &[u8]) -> Run {
    let script = format!("ulimit -v {} && exec \"$0\" \"$@\"", mib * 1024);
    let mut all = vec!["-c", script.as_str(), env!("CARGO_BIN_EXE_vecar")];
    all.extend_from_slice(args);
    let output = std::process::Command::new("sh")
        .args(&all)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(stdin)?;
            child.wait_with_output()
        })
        .unwrap();
    Run {
        code: output.status.code().expect("vecar was killed by a signal"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn a_k_beyond_the_record_count_means_every_record_in_bounded_memory() {
    let dir = tempdir();
    let five: Vec<String> = (0..5)
        .map(|i| format!("{{\"id\": {i}, \"vector\": [{}, 1, {}]}}", i + 1, i * i))
        .collect();
    let five: Vec<&str> = five.iter().map(String::as_str).collect();
    let car = archive_of(dir.path(), "five", &five, &[]);
    let queries = b"[1, 1, 1]\n[0, 2, 1]\n[5, 1, 0]\n";
    for k in ["18446744073709551615", "4294967295", "1000000000", "6"] {
        for extra in [
            &[][..],
            &["--exact"],
            &["--rescore", "100"],
            &["--filter", "id > 0"],
            &["--like", "3"],
        ] {
            let mut args = vec!["query", s(&car), "-k", k];
            args.extend_from_slice(extra);
            let run = vecar_limited(1024, &args, queries);
            assert_eq!(run.code, 0, "-k {k} {extra:?}: {}", run.stderr);
            let expected = match extra.first() {
                Some(&"--filter") => 3 * 4,
                Some(&"--like") => 4,
                _ => 3 * 5,
            };
            assert_eq!(run.json_lines().len(), expected, "-k {k} {extra:?}");
        }
    }
    let other: Vec<String> = (5..10)
        .map(|i| format!("{{\"id\": {i}, \"vector\": [{}, 1, {}]}}", i + 1, i * i))
        .collect();
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    let other = archive_of(dir.path(), "other", &other, &[]);
    let run = vecar_limited(
        1024,
        &["query", s(&car), s(&other), "-k", "18446744073709551615"],
        queries,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines().len(), 3 * 10, "two archives: all ten records");
}

#[test]
fn a_k_of_all_records_for_many_queries_stays_within_memory() {
    // 300 records, 20 queries: 6,000 hits, printed in full.
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let run = vecar_limited(1024, &["query", s(&car), "-k", "18446744073709551615"], &queries);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hits = run.json_lines();
    assert_eq!(hits.len(), 20 * 300);
    assert!(hits.iter().all(|h| h["score"].is_number()));
}

fn query_with_filter(filter: &str) -> Run {
    let dir = tempdir();
    let car = archive_of(
        dir.path(),
        "one",
        &["{\"id\": \"a\", \"vector\": [1, 0], \"n\": 1}"],
        &[],
    );
    vecar(&["query", s(&car), "--vector", "[1, 0]", "--filter", filter])
}

#[test]
fn a_deeply_nested_filter_is_a_usage_error_not_a_stack_overflow() {
    let parens = format!("{}n = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let nots = format!("{}n = 1", "not ".repeat(30_000));
    for filter in [&parens, &nots] {
        let run = query_with_filter(filter);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("--filter: nested more than 100 deep"),
            "{}",
            &run.stderr[..run.stderr.len().min(300)]
        );
    }
}

#[test]
fn long_filters_within_the_nesting_limit_work() {
    let hundred = format!("{}n = 1{}", "(".repeat(100), ")".repeat(100));
    let not_99 = format!("{}n = 1", "not ".repeat(99));
    let chain = vec!["n = 1"; 10_000].join(" and ");
    let either = vec!["n = 2"; 10_000].join(" or ") + " or n = 1";
    for (filter, hits) in [(&hundred, 1), (&not_99, 0), (&chain, 1), (&either, 1)] {
        let run = query_with_filter(filter).ok();
        assert_eq!(run.json_lines().len(), hits, "{}", &filter[..40]);
    }
}

#[test]
fn a_min_score_that_is_not_a_finite_number_is_refused() {
    let dir = tempdir();
    let car = archive_of(dir.path(), "one", &["{\"id\": \"a\", \"vector\": [1, 0]}"], &[]);
    for bad in ["NaN", "nan", "inf", "-inf", "infinity"] {
        let flag = format!("--min-score={bad}");
        let run = vecar(&["query", s(&car), "--vector", "[1, 0]", &flag]);
        assert_eq!(run.code, 2, "--min-score {bad}: {}", run.stderr);
        assert!(run.stderr.contains("a finite number"), "{}", run.stderr);
    }
}

/// The hits of one query vector, with extra flags.
fn hits_of(car: &Path, vector: &str, flags: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["query", s(car), "--vector", vector];
    args.extend_from_slice(flags);
    vecar(&args).ok().json_lines()
}

fn ids(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter().map(|h| h["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn cosine_scores_are_exact_at_every_float32_magnitude() {
    let dir = tempdir();
    let car = archive_of(
        dir.path(),
        "cos",
        &[
            r#"{"id": "big", "vector": [1e20, 1e20]}"#,
            r#"{"id": "max", "vector": [3.4e38, 3.4e38]}"#,
            r#"{"id": "tiny", "vector": [1e-45, 0]}"#,
            r#"{"id": "across", "vector": [1, -1]}"#,
            r#"{"id": "x", "vector": [1, 0]}"#,
        ],
        &[],
    );
    for flags in [&[][..], &["--exact"]] {
        let found = hits_of(&car, "[1, 1]", flags);
        assert_eq!(found.len(), 5, "{flags:?}");
        assert!(
            found.iter().all(|h| h["score"].is_f64() && h["distance"].is_f64()),
            "{found:?}"
        );
        let scores: Vec<f64> = found.iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert_eq!(&scores[..2], &[1.0, 1.0], "{found:?}");
        assert!((scores[2] - 0.5f64.sqrt()).abs() < 1e-12 && (scores[3] - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(scores[4], 0.0);
        assert_eq!(ids(&found)[4], "across");
        let found = hits_of(&car, "[1, 0]", flags);
        let tiny = found.iter().find(|h| h["id"] == "tiny").unwrap();
        assert_eq!(
            (tiny["score"].as_f64(), tiny["distance"].as_f64()),
            (Some(1.0), Some(0.0))
        );
    }
}

#[test]
fn l2_and_ip_scores_stay_finite_and_ordered_beyond_float32() {
    let dir = tempdir();
    let l2 = archive_of(
        dir.path(),
        "l2",
        &[
            r#"{"id": "far", "vector": [-3.4e38, -3.4e38]}"#,
            r#"{"id": "zero", "vector": [0, 0]}"#,
            r#"{"id": "near", "vector": [3.4e38, 3.4e38]}"#,
        ],
        &["--metric", "l2", "--dtype", "f32"],
    );
    for flags in [&[][..], &["--exact"]] {
        let found = hits_of(&l2, "[3e38, 3e38]", flags);
        assert_eq!(ids(&found), ["near", "zero", "far"], "{flags:?}");
        for hit in &found {
            let distance = hit["distance"].as_f64().expect("a number, not null");
            let want = 2.0 * ((3e38f32 as f64) - expected_coordinate(&hit["id"])).powi(2);
            assert!((distance - want).abs() <= want * 1e-12, "{hit} {want}");
            assert_eq!(hit["score"].as_f64(), Some(-distance));
        }
    }
    let ip = archive_of(
        dir.path(),
        "ip",
        &[
            r#"{"id": "minus", "vector": [-1e-45, 0]}"#,
            r#"{"id": "up", "vector": [0, 1]}"#,
            r#"{"id": "tiny", "vector": [1e-45, 0]}"#,
            r#"{"id": "one", "vector": [1, 0]}"#,
            r#"{"id": "huge", "vector": [1e20, 0]}"#,
        ],
        &["--metric", "ip", "--dtype", "f32"],
    );
    for flags in [&[][..], &["--exact"]] {
        let found = hits_of(&ip, "[1, 0]", flags);
        assert_eq!(ids(&found), ["huge", "one", "tiny", "up", "minus"], "{flags:?}");
        let scores: Vec<f64> = found.iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert_eq!(scores, [1e20f32 as f64, 1.0, 1e-45f32 as f64, 0.0, -(1e-45f32 as f64)]);
        let found = hits_of(&ip, "[3e38, 0]", flags);
        assert_eq!(found[0]["score"].as_f64(), Some(1e20f32 as f64 * 3e38f32 as f64));
    }
}

/// The first coordinate of the l2 test's records.
fn expected_coordinate(id: &serde_json::Value) -> f64 {
    match id.as_str().unwrap() {
        "far" => -3.4e38f32 as f64,
        "zero" => 0.0,
        _ => 3.4e38f32 as f64,
    }
}

#[test]
fn an_identical_vector_passes_min_score_1_under_cos() {
    let dir = tempdir();
    // One thread: the graph is then fixed, and reaches every record (whether every graph does is
    // another question, not this test's).
    let car = build_fixture(dir.path(), "docs.car", &["--threads", "1"]);
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(fixture("docs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for doc in docs.iter().step_by(10) {
        let vector: Vec<f32> = serde_json::from_value(doc["vector"].clone()).unwrap();
        for scale in [1.0f32, 2.0, 0.5] {
            let scaled: Vec<f32> = vector.iter().map(|x| x * scale).collect();
            let text = serde_json::to_string(&scaled).unwrap();
            for flags in [&["--min-score", "1"][..], &["--min-score", "1", "--exact"]] {
                let found = hits_of(&car, &text, flags);
                assert_eq!(ids(&found), [doc["id"].as_str().unwrap()], "{} ×{scale}", doc["id"]);
                assert_eq!(found[0]["score"].as_f64(), Some(1.0));
            }
        }
    }
}

/// Writes `lines` to `dir/name.jsonl` and runs `vecar build` on it.
fn build_lines(dir: &Path, name: &str, lines: &[&str], flags: &[&str]) -> Run {
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let car = dir.join(format!("{name}.car"));
    let mut args = vec!["build", s(&input), "-o", s(&car)];
    args.extend_from_slice(flags);
    vecar(&args)
}

#[test]
fn ids_equal_as_text_are_one_id_in_every_command() {
    let dir = tempdir();
    let run = build_lines(
        dir.path(),
        "both",
        &[r#"{"id": "1", "vector": [1, 0]}"#, r#"{"id": 1, "vector": [0, 1]}"#],
        &[],
    );
    run.fails_with("both.jsonl:2: duplicate id 1");
    assert!(run.stderr.contains(r#""1""#), "names the earlier id: {}", run.stderr);

    let car = archive_of(
        dir.path(),
        "ids",
        &[
            r#"{"id": "1", "vector": [1, 0], "n": "string"}"#,
            r#"{"id": 2, "vector": [0, 1], "n": "integer"}"#,
            r#"{"id": "x", "vector": [1, 1], "n": "x"}"#,
        ],
        &[],
    );
    let got = vecar(&["get", s(&car), "1", "2"]).ok().json_lines();
    assert_eq!((got[0]["id"].clone(), got[1]["id"].clone()), ("1".into(), 2.into()));
    let like = |id: &str| -> Vec<serde_json::Value> {
        let hits = vecar(&["query", s(&car), "--like", id]).ok().json_lines();
        hits.iter().map(|h| h["id"].clone()).collect()
    };
    assert_eq!(
        like("1"),
        ["x".into(), serde_json::json!(2)],
        "--like 1 is the record \"1\""
    );
    assert_eq!(like("2"), ["x", "1"]);

    let removed = dir.path().join("removed.car");
    vecar(&["rm", s(&car), "1", "2", "-o", s(&removed)]).ok();
    let left = vecar(&["export", s(&removed)]).ok().json_lines();
    assert_eq!(left.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), ["x"]);

    // `add` of the id 1 replaces the record "1"; `diff` calls it changed.
    let new = dir.path().join("new.jsonl");
    std::fs::write(&new, "{\"id\": 1, \"vector\": [1, 0], \"n\": \"now an integer\"}\n").unwrap();
    let added = dir.path().join("added.car");
    let run = vecar(&["add", s(&car), s(&new), "-o", s(&added)]).ok();
    assert!(run.stderr.contains("0 added, 1 replaced"), "{}", run.stderr);
    let all = vecar(&["export", s(&added)]).ok().json_lines();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[0]["id"].clone(), all[0]["n"].clone()),
        (1.into(), "now an integer".into())
    );
    let diff = vecar(&["diff", s(&car), s(&added)]).ok().stdout;
    assert!(
        diff.starts_with("~ 1\nids: 0 added, 0 removed, 1 changed, 2 unchanged"),
        "{diff}"
    );

    // merge: the same id (as text) in two archives is a conflict, as any other.
    let other = archive_of(dir.path(), "other", &[r#"{"id": 1, "vector": [5, 5]}"#], &[]);
    let merged = dir.path().join("merged.car");
    vecar(&["merge", s(&car), s(&other), "-o", s(&merged)]).fails_with("id 1 is already present");
}

#[test]
fn rm_ids_from_takes_each_line_exactly() {
    let dir = tempdir();
    let car = archive_of(
        dir.path(),
        "spaced",
        &[
            r#"{"id": "a", "vector": [1, 0]}"#,
            r#"{"id": " a", "vector": [0, 1]}"#,
            r#"{"id": "a ", "vector": [1, 1]}"#,
            r#"{"id": "b\t", "vector": [1, 2]}"#,
            r#"{"id": "b", "vector": [2, 1]}"#,
        ],
        &[],
    );
    let list = dir.path().join("ids.txt");
    std::fs::write(&list, " a\n\na \r\nb\t\n").unwrap();
    let out = dir.path().join("out.car");
    vecar(&["rm", s(&car), "--ids-from", s(&list), "-o", s(&out)]).ok();
    let left = vecar(&["export", s(&out)]).ok().json_lines();
    assert_eq!(left.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), ["a", "b"]);
    let help = vecar(&["rm", "--help"]).ok().stdout;
    assert!(help.contains("exactly"), "{help}");
}

#[test]
fn duplicate_keys_in_an_object_are_refused_with_the_line() {
    let dir = tempdir();
    for (lines, message) in [
        (
            &[
                r#"{"id": "a", "vector": [1, 0]}"#,
                r#"{"id": "b", "id": "c", "vector": [1, 0]}"#,
            ][..],
            "dup.jsonl:2: duplicate key \"id\"",
        ),
        (
            &[r#"{"id": "a", "vector": [1, 0], "m": {"x": 1, "y": {"z": 1, "z": 2}}}"#],
            "dup.jsonl:1: duplicate key \"z\" in m.y",
        ),
        (
            &[r#"{"id": "a", "vector": [1, 0], "vector": [0, 1]}"#],
            "dup.jsonl:1: duplicate key \"vector\"",
        ),
    ] {
        build_lines(dir.path(), "dup", lines, &[]).fails_with(message);
    }
    let car = archive_of(dir.path(), "one", &[r#"{"id": "a", "vector": [1, 0]}"#], &[]);
    let run = vecar_with_stdin(
        &["query", s(&car)],
        b"{\"vector\": [1, 0]}\n{\"vector\": [1, 0], \"vector\": [0, 1]}\n",
    );
    run.fails_with("<stdin>:2: duplicate key \"vector\"");
}

#[test]
fn integers_beyond_64_bits_are_refused_with_line_and_field() {
    let dir = tempdir();
    for (line, message) in [
        (
            r#"{"id": "a", "vector": [1, 0], "n": -9223372036854775809}"#,
            "big.jsonl:1: n = -9223372036854775809",
        ),
        (
            r#"{"id": "a", "vector": [1, 0], "n": 18446744073709551616}"#,
            "big.jsonl:1: n = 18446744073709551616",
        ),
        (
            r#"{"id": "a", "vector": [1, 0], "m": {"deep": [1, 100000000000000000000000]}}"#,
            "big.jsonl:1: m.deep[1] = 100000000000000000000000",
        ),
        (
            r#"{"id": 18446744073709551616, "vector": [1, 0]}"#,
            "big.jsonl:1: id = 18446744073709551616",
        ),
    ] {
        let run = build_lines(dir.path(), "big", &[line], &[]);
        run.fails_with(message);
        assert!(run.stderr.contains("64 bits"), "{}", run.stderr);
    }
    let car = archive_of(
        dir.path(),
        "edges",
        &[r#"{"id": "a", "vector": [1, 0], "low": -9223372036854775808, "high": 18446744073709551615, "f": 1e300}"#],
        &[],
    );
    let out = vecar(&["export", s(&car)]).ok().stdout;
    assert!(
        out.contains("\"low\":-9223372036854775808") && out.contains("\"high\":18446744073709551615"),
        "{out}"
    );
}

#[test]
fn the_id_minus_zero_is_refused_with_the_reason() {
    let dir = tempdir();
    let run = build_lines(dir.path(), "zero", &[r#"{"id": -0, "vector": [1, 0]}"#], &[]);
    run.fails_with("zero.jsonl:1: id -0");
    assert!(run.stderr.contains("negative zero"), "{}", run.stderr);
}

#[test]
fn i8_is_refused_for_l2_and_ip() {
    let dir = tempdir();
    for metric in ["l2", "ip"] {
        let run = build_lines(
            dir.path(),
            metric,
            &[r#"{"id": "a", "vector": [1, 0]}"#],
            &["--metric", metric, "--dtype", "i8"],
        );
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("--dtype i8 is for --metric cos"), "{}", run.stderr);
    }
    build_lines(
        dir.path(),
        "cos",
        &[r#"{"id": "a", "vector": [1, 0]}"#],
        &["--dtype", "i8"],
    )
    .ok();
    let help = vecar(&["build", "--help"]).ok().stdout;
    assert!(help.contains("i8 only with cos"), "{help}");
}

#[test]
fn queries_are_labelled_all_by_id_or_all_by_line() {
    let dir = tempdir();
    let car = archive_of(dir.path(), "one", &[r#"{"id": "a", "vector": [1, 0]}"#], &[]);
    let labels = |stdin: &[u8]| -> Vec<serde_json::Value> {
        let run = vecar_with_stdin(&["query", s(&car)], stdin).ok();
        run.json_lines().iter().map(|h| h["query"].clone()).collect()
    };
    assert_eq!(labels(b"[1, 0]\n\n{\"vector\": [0, 1]}\n"), [0, 2]);
    assert_eq!(
        labels(b"{\"id\": 7, \"vector\": [1, 0]}\n{\"id\": \"q\", \"vector\": [0, 1]}\n"),
        [serde_json::json!(7), serde_json::json!("q")]
    );
    for mixed in [
        &b"{\"id\": 1, \"vector\": [1, 0]}\n{\"id\": null, \"vector\": [0, 1]}\n"[..],
        b"{\"id\": 1, \"vector\": [1, 0]}\n[0, 1]\n",
        b"[1, 0]\n{\"id\": 0, \"vector\": [0, 1]}\n",
    ] {
        let run = vecar_with_stdin(&["query", s(&car)], mixed);
        run.fails_with("<stdin>:2: ");
        assert!(run.stderr.contains("give every query an id, or none"), "{}", run.stderr);
    }
}

#[test]
fn index_settings_out_of_range_in_a_manifest_are_refused() {
    let dir = tempdir();
    let car = archive_of(dir.path(), "one", &[r#"{"id": "a", "vector": [1, 0]}"#], &[]);
    for (param, value) in [
        ("expansion_search", 1i128 << 62),
        ("expansion_search", 0),
        ("expansion_add", 1 << 62),
        ("connectivity", 1 << 40),
        ("connectivity", 1),
    ] {
        let bytes = with_edited_manifest(&car, |m| {
            let Some(ipld_core::ipld::Ipld::Map(index)) = m.get_mut("index") else {
                panic!("index")
            };
            let Some(ipld_core::ipld::Ipld::Map(params)) = index.get_mut("params") else {
                panic!("params")
            };
            params.insert(param.into(), ipld_core::ipld::Ipld::Integer(value));
        });
        let bad = dir.path().join("bad.car");
        std::fs::write(&bad, bytes).unwrap();
        let new = dir.path().join("new.jsonl");
        std::fs::write(&new, "{\"id\": \"b\", \"vector\": [0, 1]}\n").unwrap();
        let out = dir.path().join("out.car");
        for args in [
            vec!["query", s(&bad), "--vector", "[1, 0]"],
            vec!["verify", s(&bad)],
            vec!["add", s(&bad), s(&new), "-o", s(&out)],
        ] {
            let run = vecar_limited(1024, &args, b"");
            run.fails_with(&format!("manifest: {param} {value} is out of range"));
        }
    }
}

#[test]
fn a_line_nested_100000_deep_is_an_error_not_a_stack_overflow() {
    let dir = tempdir();
    let deep = format!(
        "{{\"id\": \"a\", \"vector\": [1, 0], \"m\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    build_lines(dir.path(), "deep", &[&deep], &[]).fails_with("deep.jsonl:1: invalid JSON: recursion limit exceeded");
    let car = archive_of(dir.path(), "one", &[r#"{"id": "a", "vector": [1, 0]}"#], &[]);
    let query = format!(
        "{{\"vector\": [1, 0], \"m\": {}1{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let run = vecar_with_stdin(&["query", s(&car)], query.as_bytes());
    assert!(
        run.code == 0 || run.stderr.contains("recursion limit exceeded"),
        "{}",
        run.stderr
    );
}
