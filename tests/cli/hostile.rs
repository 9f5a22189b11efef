//! Broken and hostile archives: every one is refused with exit 1 and a message, never a crash.

use crate::common::*;

/// Runs verify, info and query on `bytes` and expects each to fail with `message`.
#[track_caller]
fn expect_refused(bytes: &[u8], message: &str) {
    let dir = tempdir();
    let car = dir.path().join("bad.car");
    std::fs::write(&car, bytes).unwrap();
    for args in [
        vec!["verify", s(&car)],
        vec!["info", s(&car)],
        vec!["query", s(&car), "--vector", "[1]"],
    ] {
        vecar(&args).fails_with(message);
    }
}

#[test]
fn an_empty_file() {
    expect_refused(b"", "bad.car: empty file");
}

#[test]
fn truncation_anywhere_is_an_error() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let bytes = std::fs::read(&car).unwrap();
    // Cut everywhere in the header, and in every section: inside its length varint, inside its
    // CID, at the start of its data and one byte before its end.
    let mut cuts: Vec<usize> = (1..60).collect();
    for block in vecar(&["ls", "--json", s(&car)]).ok().json_lines() {
        let at = block["offset"].as_u64().unwrap() as usize;
        let end = at + 3 + 36 + block["size"].as_u64().unwrap() as usize;
        cuts.extend([at + 1, at + 2, at + 3, at + 20, at + 38, at + 39, at + 40, end - 1]);
    }
    cuts.retain(|&cut| cut < bytes.len());
    for cut in cuts {
        let cut_car = dir.path().join("cut.car");
        std::fs::write(&cut_car, &bytes[..cut]).unwrap();
        let run = vecar(&["verify", s(&cut_car)]);
        assert_eq!(run.code, 1, "cut at {cut}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("vecar: ") && run.stderr.contains("cut.car"),
            "cut at {cut}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_block_nested_100000_deep() {
    let mut deep = vec![0x81; 100_000];
    deep.push(0x00);
    let root = cid_of(0x71, &deep);
    expect_refused(&car_bytes(&root, &[(root, deep)]), "nested deeper than");
}

#[test]
fn a_manifest_from_a_future_format_version() {
    #[derive(serde::Serialize)]
    struct Future {
        format: &'static str,
        version: u64,
    }
    let manifest = serde_ipld_dagcbor::to_vec(&Future {
        format: "vecar",
        version: 2,
    })
    .unwrap();
    let root = cid_of(0x71, &manifest);
    expect_refused(
        &car_bytes(&root, &[(root, manifest)]),
        "archive format version 2 is not supported",
    );
}

#[test]
fn a_root_that_is_not_in_the_file() {
    let other = cid_of(0x55, b"elsewhere");
    expect_refused(&car_bytes(&other, &[(cid_of(0x55, b"x"), b"x".to_vec())]), "is missing");
}

#[test]
fn a_carv2_wrapper_is_read_through() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let v1 = std::fs::read(&car).unwrap();
    let mut v2 = vec![0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02];
    v2.extend([0u8; 16]);
    v2.extend(51u64.to_le_bytes());
    v2.extend((v1.len() as u64).to_le_bytes());
    v2.extend(0u64.to_le_bytes());
    v2.extend(&v1);
    let v2_car = dir.path().join("docs.v2.car");
    std::fs::write(&v2_car, &v2).unwrap();
    vecar(&["verify", s(&v2_car)]).ok();
    assert_eq!(
        vecar(&["export", s(&v2_car)]).ok().stdout,
        vecar(&["export", s(&car)]).ok().stdout
    );
}
