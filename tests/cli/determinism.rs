//! Same input and options give the same bytes with one thread; record and vector blocks are the
//! same at any thread count.

use std::collections::BTreeSet;

use crate::common::*;

fn blocks_of_role(car: &std::path::Path, roles: &[&str]) -> BTreeSet<String> {
    let run = vecar(&["ls", "--json", s(car)]).ok();
    run.json_lines()
        .into_iter()
        .filter(|b| roles.contains(&b["role"].as_str().unwrap()))
        .map(|b| b["cid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn single_threaded_builds_are_byte_identical() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &["--threads", "1"]);
    let b = build_fixture(dir.path(), "b.car", &["--threads", "1"]);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn record_and_vector_blocks_do_not_depend_on_threads() {
    let dir = tempdir();
    let one = build_fixture(dir.path(), "one.car", &["--threads", "1"]);
    let two = build_fixture(dir.path(), "two.car", &["--threads", "2"]);
    let roles = ["records", "vectors", "records-links", "vectors-links"];
    let (a, b) = (blocks_of_role(&one, &roles), blocks_of_role(&two, &roles));
    assert!(a.len() >= 4);
    assert_eq!(a, b);
}
