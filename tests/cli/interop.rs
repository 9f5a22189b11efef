//! Independent implementations accept vecar's CARs: the JavaScript `@ipld/car` reader and the
//! strict `@ipld/dag-cbor` decoder, with every block re-hashed and every link resolved
//! (tests/interop/check.mjs; `npm ci --prefix tests/interop` installs it).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn js_check(cars: &[&Path]) -> Vec<Value> {
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
fn javascript_reads_every_kind_of_archive() {
    let dir = tempdir();
    let plain = build_fixture(dir.path(), "plain.car", &[]);
    let tree = build_fixture(
        dir.path(),
        "tree.car",
        &["--max-links", "2", "--dtype", "i8", "--metric", "ip"],
    );
    let odd_input = dir.path().join("odd.jsonl");
    std::fs::write(
        &odd_input,
        "{\"id\": 1, \"vector\": [1.5, -0.0], \"f\": 1.0, \"neg\": -0.0, \"u\": 18446744073709551615, \"i\": -9223372036854775808, \"deep\": {\"a\": [null, true, \"é\"]}}\n",
    )
    .unwrap();
    let odd = dir.path().join("odd.car");
    vecar(&["build", s(&odd_input), "-o", s(&odd)]).ok();

    let reports = js_check(&[&plain, &tree, &odd]);
    assert_eq!(reports.len(), 3);
    for (report, car) in reports.iter().zip([&plain, &tree, &odd]) {
        let info = &vecar(&["info", "--json", s(car)]).ok().json_lines()[0];
        assert_eq!(report["ok"], true);
        assert_eq!(report["root"], info["root"]);
        assert_eq!(report["blocks"], info["blocks"]);
        assert_eq!(report["bytes"], info["block_bytes"]);
    }
}
