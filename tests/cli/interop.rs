//! Independent implementations accept vecar's CARs: the JavaScript `@ipld/car` reader and the
//! strict `@ipld/dag-cbor` decoder, with every block re-hashed and every link resolved
//! (tests/interop/check.mjs; `npm ci --prefix tests/interop` installs it).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// Runs the JavaScript checker on `cars`: one report per archive.
pub fn js_check(cars: &[&Path]) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    assert!(
        root.join("node_modules/@ipld/car").exists(),
        "run `npm ci --prefix tests/interop` first"
    );
    let out = Command::new("node")
        .arg(root.join("check.mjs"))
        .args(cars)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "JS checker rejected a CAR: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
#[ignore = "needs Node: npm ci --prefix tests/interop"]
fn javascript_reads_every_kind_of_archive() {
    let dir = tempdir();
    let plain = build_fixture(dir.path(), "plain.car", &[]);
    let tree = build_fixture(
        dir.path(),
        "tree.car",
        &["--max-links", "2", "--dtype", "f16", "--metric", "ip", "--car-v1"],
    );
    let odd_input = dir.path().join("odd.jsonl");
    std::fs::write(
        &odd_input,
        "{\"id\": 1, \"vector\": [1.5, -0.0], \"f\": 1.0, \"neg\": -0.0, \"u\": 18446744073709551615, \"i\": -9223372036854775808, \"deep\": {\"a\": [null, true, \"é\"]}}\n",
    )
    .unwrap();
    let odd = dir.path().join("odd.car");
    vecar(&["build", s(&odd_input), "-o", s(&odd)]).ok();

    let new_input = dir.path().join("new.jsonl");
    std::fs::write(
        &new_input,
        "{\"id\": \"new\", \"vector\": [0.5, 0.25], \"text\": \"added\"}\n",
    )
    .unwrap();
    let added = dir.path().join("added.car");
    vecar(&["add", s(&odd), s(&new_input), "-o", s(&added)]).ok();
    let removed = dir.path().join("removed.car");
    vecar(&["rm", s(&tree), "doc-00000", "doc-09867", "-o", s(&removed)]).ok();
    let merged = dir.path().join("merged.car");
    vecar(&["merge", s(&removed), s(&tree), "-o", s(&merged)]).ok();

    let cars = [&plain, &tree, &odd, &added, &removed, &merged];
    let reports = js_check(&cars.map(|p| p.as_path()));
    assert_eq!(reports.len(), cars.len());
    for (report, car) in reports.iter().zip(cars) {
        let info = &vecar(&["info", "--json", s(car)]).ok().json_lines()[0];
        assert_eq!(report["ok"], true);
        assert_eq!(report["root"], info["root"]);
        assert_eq!(report["blocks"], info["blocks"]);
        assert_eq!(report["bytes"], info["block_bytes"]);
        let v1 = car == &tree;
        assert_eq!(report["version"], if v1 { 1 } else { 2 }, "{report}");
        assert_eq!(report["indexed"], if v1 { 0.into() } else { info["blocks"].clone() });
    }
}
