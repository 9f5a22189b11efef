//! `build --index auto`, the default: an HNSW index built on one thread below a number of records
//! (the same root at any --threads), a partitioned index from there on; `--index hnsw` and
//! `--index partitioned` as asked, and the flags that go with one kind. `import` indexes by the
//! same rule.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Records from which the default build is partitioned (`ops::build::AUTO_PARTITIONED_FROM`).
const AUTO_FROM: usize = 20_000;

/// `n` records of 8 pseudo-random numbers each (seeded), written to `dir/name`.
fn random_records(dir: &Path, name: &str, n: usize) -> PathBuf {
    let mut state = 0x5EED_u64;
    let mut text = String::new();
    for i in 0..n {
        let vector: Vec<f32> = (0..8)
            .map(|_| (xorshift(&mut state) >> 11) as f32 / (1u64 << 53) as f32 - 0.5)
            .collect();
        text += &serde_json::json!({"id": i, "vector": vector}).to_string();
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The index `info` says `car` has, and its engine.
fn index_of(car: &Path) -> (String, String) {
    let info = vecar(&["info", "--json", s(car)]).ok().json_lines().remove(0);
    let text = |key: &str| info[key].as_str().unwrap().to_string();
    (text("index"), text("engine"))
}

/// Builds `input` into `dir/name` with `flags`, returning the archive's path.
fn build(dir: &Path, input: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(name);
    vecar(&[&["build", s(input), "-o", s(&out)], flags].concat()).ok();
    out
}

#[test]
fn a_default_build_of_a_small_input_is_hnsw_and_the_same_at_any_thread_count() {
    let dir = tempdir();
    let one = build_fixture(dir.path(), "one.car", &["--threads", "1"]);
    let two = build_fixture(dir.path(), "two.car", &["--threads", "2"]);
    let (index, engine) = index_of(&two);
    assert_eq!(index, "hnsw");
    assert!(engine.starts_with("usearch "), "{engine}");
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    // It is the graph `--index hnsw` builds on one thread.
    let asked = build_fixture(dir.path(), "asked.car", &["--index", "hnsw", "--threads", "1"]);
    assert_eq!(std::fs::read(&asked).unwrap(), std::fs::read(&two).unwrap());
    let text = vecar(&["info", s(&two)]).ok().stdout;
    assert!(text.contains("\nindex             hnsw\n"), "{text}");
    // The help says where the default changes.
    let help = vecar(&["build", "--help"]).ok().stdout;
    assert!(
        help.contains("builds HNSW on one thread below 20,000 records"),
        "{help}"
    );
}

#[test]
fn a_default_build_from_the_threshold_on_is_partitioned_and_the_same_at_any_thread_count() {
    let dir = tempdir();
    let at = random_records(dir.path(), "at.jsonl", AUTO_FROM);
    let below = dir.path().join("below.jsonl");
    let text = std::fs::read_to_string(&at).unwrap();
    std::fs::write(
        &below,
        text.lines()
            .take(AUTO_FROM - 1)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();

    assert_eq!(index_of(&build(dir.path(), &below, "below.car", &[])).0, "hnsw");
    let one = build(dir.path(), &at, "one.car", &["--threads", "1"]);
    let two = build(dir.path(), &at, "two.car", &["--threads", "2"]);
    assert_eq!(index_of(&two), ("partitioned".into(), "partitioned 2".into()));
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let described = vecar(&["info", "--json", s(&two)]).ok().json_lines().remove(0);
    assert_eq!(described["partitions"]["count"], 141, "about √20,000 partitions");

    // Asked for, an HNSW index is built at any size.
    assert_eq!(
        index_of(&build(dir.path(), &at, "hnsw.car", &["--index", "hnsw"])).0,
        "hnsw"
    );
    // --dtype is for HNSW: refused where the default decides on partitions, before writing.
    let out = dir.path().join("refused.car");
    let run = vecar(&["build", s(&at), "-o", s(&out), "--dtype", "f32"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("give --index hnsw, or drop --dtype"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
}

#[test]
fn partitions_ask_for_a_partitioned_index_at_any_size_and_dtype_for_hnsw_below_the_threshold() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "p.car", &["--partitions", "4"]);
    assert_eq!(index_of(&car).0, "partitioned");
    let info = vecar(&["info", "--json", s(&car)]).ok().json_lines().remove(0);
    assert_eq!(info["partitions"]["count"], 4);
    let car = build_fixture(dir.path(), "f32.car", &["--dtype", "f32"]);
    let info = vecar(&["info", "--json", s(&car)]).ok().json_lines().remove(0);
    assert_eq!(
        (info["index"].as_str(), info["dtype"].as_str()),
        (Some("hnsw"), Some("f32"))
    );

    let out = dir.path().join("x.car");
    let input = fixture("docs.jsonl");
    let run = vecar(&["build", s(&input), "-o", s(&out), "--partitions", "4", "--dtype", "f32"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--dtype is for --index hnsw"), "{}", run.stderr);
    // `--index hnsw --partitions` is refused too: partitioned.rs checks it.
    assert!(!out.exists());
}

#[test]
fn default_updates_of_a_small_hnsw_archive_are_the_same_at_any_thread_count() {
    let dir = tempdir();
    let text = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = dir.path().join("first.jsonl");
    let rest = dir.path().join("rest.jsonl");
    std::fs::write(&first, lines[..250].join("\n") + "\n").unwrap();
    std::fs::write(&rest, lines[250..].join("\n") + "\n").unwrap();
    let base = build(dir.path(), &first, "base.car", &[]);
    let roots: Vec<Vec<String>> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = |name: &str| dir.path().join(format!("{name}-{threads}.car"));
            let (added, removed, merged) = (out("added"), out("removed"), out("merged"));
            let run = |args: &[&str]| vecar(&[args, &["--threads", threads]].concat()).ok();
            run(&["add", s(&base), s(&rest), "-o", s(&added)]);
            run(&["rm", s(&added), "doc-00000", "-o", s(&removed)]);
            run(&["merge", s(&removed), s(&base), "-o", s(&merged)]);
            [added, removed, merged].iter().map(|car| root_of(car)).collect()
        })
        .collect();
    assert_eq!(roots[0], roots[1]);
}

#[test]
fn a_default_import_indexes_as_a_default_build_does_and_is_the_same_at_any_thread_count() {
    let dir = tempdir();
    let at = random_records(dir.path(), "at.jsonl", AUTO_FROM);
    let small = build_fixture(dir.path(), "small.car", &[]);
    // ip: FAISS keeps the vectors as they are (a cos archive's file holds them scaled).
    let big = build(dir.path(), &at, "big.car", &["--metric", "ip"]);
    for (car, kind) in [(&small, "hnsw"), (&big, "partitioned")] {
        // A FAISS file (ids = row numbers) written by vecar itself, so no FAISS is needed.
        let faiss = car.with_extension("faiss");
        vecar(&[
            "export",
            s(car),
            "--to",
            "faiss",
            "--faiss-index",
            "flat",
            "-o",
            s(&faiss),
        ])
        .ok();
        let imported: Vec<Vec<u8>> = ["1", "2"]
            .iter()
            .map(|threads| {
                let out = dir.path().join(format!("{kind}-{threads}.car"));
                vecar(&["import", "faiss", s(&faiss), "-o", s(&out), "--threads", threads]).ok();
                assert_eq!(index_of(&out).0, kind, "{threads} threads");
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(imported[0] == imported[1], "{kind}: another archive at 2 threads");
    }
    // With the records joined, the import is the default build of the same records.
    let out = dir.path().join("joined.car");
    let faiss = big.with_extension("faiss");
    vecar(&["import", "faiss", s(&faiss), "--records", s(&at), "-o", s(&out)]).ok();
    assert_eq!(root_of(&out), root_of(&big));
    let help = vecar(&["import", "--help"]).ok().stdout;
    assert!(
        help.contains("HNSW built on one thread\nbelow 20,000 records"),
        "{help}"
    );
}
