//! Broken and hostile archives: every one is refused with exit 1 and a message, never a crash.

use std::collections::BTreeMap;
use std::path::Path;

use cid::Cid;
use ipld_core::ipld::Ipld;

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
        let run = vecar(&args);
        run.fails_with(message);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(run.stderr.contains("bad.car"), "names the file: {}", run.stderr);
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
        version: 3,
    })
    .unwrap();
    let root = cid_of(0x71, &manifest);
    expect_refused(
        &car_bytes(&root, &[(root, manifest)]),
        "archive format version 3 is not supported",
    );
}

#[test]
fn a_root_that_is_not_in_the_file() {
    let other = cid_of(0x71, b"elsewhere");
    expect_refused(
        &car_bytes(&other, &[(cid_of(0x55, b"x"), b"x".to_vec())]),
        "not a vecar archive (its root block",
    );
}

#[test]
fn a_carv2_wrapper_is_read_through() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
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

/// Runs verify alone on `bytes` and expects failure with `message` on one line naming the file.
#[track_caller]
fn expect_verify_fails(bytes: &[u8], message: &str) {
    let dir = tempdir();
    let car = dir.path().join("bad.car");
    std::fs::write(&car, bytes).unwrap();
    let run = vecar(&["verify", s(&car)]);
    run.fails_with(message);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("bad.car"), "{}", run.stderr);
}

/// The fixture archive's root and blocks, in file order.
fn fixture_blocks(dir: &Path) -> (Cid, Vec<(Cid, Vec<u8>)>) {
    let car = vecar::archive::car::CarFile::open(&build_fixture(dir, "docs.car", &[])).unwrap();
    let blocks = car
        .sections()
        .unwrap()
        .map(|(cid, _)| (*cid, car.block(cid).unwrap()))
        .collect();
    (*car.root(), blocks)
}

/// A CAR header (with its length) naming `roots`, for hand-made files.
fn header_with(value: &Ipld) -> Vec<u8> {
    let bytes = serde_ipld_dagcbor::to_vec(value).unwrap();
    let mut out = Vec::new();
    varint(bytes.len() as u64, &mut out);
    out.extend(bytes);
    out
}

fn raw_section(cid_bytes: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((cid_bytes.len() + data.len()) as u64, &mut out);
    out.extend(cid_bytes);
    out.extend(data);
    out
}

fn header_map(roots: Vec<Cid>, version: i128) -> Ipld {
    Ipld::Map(BTreeMap::from([
        ("roots".into(), Ipld::List(roots.into_iter().map(Ipld::Link).collect())),
        ("version".into(), Ipld::Integer(version)),
    ]))
}

#[test]
fn malformed_varints() {
    expect_refused(&[0x80, 0x00], "bad.car: byte 0: invalid CAR header length");
    expect_refused(&[0xff; 11], "bad.car: byte 0: invalid CAR header length");
    let block = cid_of(0x55, b"x");
    let mut car = car_bytes(&block, &[]);
    car.extend([0xff; 12]);
    expect_refused(&car, "invalid section length");
}

#[test]
fn sections_that_claim_too_much() {
    let root = cid_of(0x55, b"x");
    let start = car_bytes(&root, &[]);
    for (claim, message) in [
        (
            4_000_000_000u64,
            "section claims 4000000000 bytes; blocks are at most 1048576",
        ),
        (3 << 20, "section claims 3145728 bytes; blocks are at most 1048576"),
        (1000, "section claims 1000 bytes but only 37 remain"),
    ] {
        let mut car = start.clone();
        varint(claim, &mut car);
        car.extend(root.to_bytes());
        car.push(b'x');
        expect_refused(&car, message);
    }
}

#[test]
fn cids_of_the_wrong_kind() {
    let data = b"block".to_vec();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&data);
    let v0 = Cid::new_v0(cid::multihash::Multihash::wrap(0x12, &digest).unwrap()).unwrap();
    let dag_json = Cid::new_v1(0x0129, cid::multihash::Multihash::wrap(0x12, &digest).unwrap());
    let sha512 = Cid::new_v1(0x55, cid::multihash::Multihash::wrap(0x13, &[0u8; 64]).unwrap());
    for (cid, message) in [
        (v0, "is CIDv0"),
        (dag_json, "has codec 0x129"),
        (sha512, "uses hash function 0x13"),
    ] {
        let mut car = header_with(&header_map(vec![cid_of(0x55, &data)], 1));
        car.extend(raw_section(&cid.to_bytes(), &data));
        expect_refused(&car, message);
        // As the root, the same CID says the file is not a vecar archive.
        let mut car = header_with(&header_map(vec![cid], 1));
        car.extend(raw_section(&cid.to_bytes(), &data));
        expect_refused(&car, "not a vecar archive (root");
    }
    let mut car = header_with(&header_map(vec![cid_of(0x55, &data)], 1));
    car.extend(raw_section(&[0x01, 0x55, 0x12], &data));
    expect_refused(&car, "invalid CID");
}

#[test]
fn headers_with_no_root_several_roots_or_another_version() {
    let a = cid_of(0x55, b"a");
    let b = cid_of(0x55, b"b");
    let blocks = raw_section(&a.to_bytes(), b"a");
    for (header, message) in [
        (header_map(vec![], 1), "CAR header has 0 roots"),
        (header_map(vec![a, b], 1), "CAR header has 2 roots"),
        (header_map(vec![a], 3), "unsupported CAR version 3"),
        (Ipld::String("not a header".into()), "CAR header"),
    ] {
        let mut car = header_with(&header);
        car.extend(&blocks);
        expect_refused(&car, message);
    }
    let mut v2 = vec![0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02];
    v2.extend([0u8; 16]);
    v2.extend(51u64.to_le_bytes());
    v2.extend(10_000u64.to_le_bytes());
    v2.extend(0u64.to_le_bytes());
    expect_refused(&v2, "CARv2 header points at bytes 51+10000, outside the file");
}

#[test]
fn a_corrupt_block_a_missing_block_a_duplicate_and_an_orphan() {
    let dir = tempdir();
    let (root, blocks) = fixture_blocks(dir.path());
    let mut corrupt = blocks.clone();
    corrupt[4].1[100] ^= 0x20;
    expect_verify_fails(
        &car_bytes(&root, &corrupt),
        "is corrupt (its sha2-256 does not match its CID)",
    );

    let mut missing = blocks.clone();
    let gone = missing.remove(4).0;
    expect_verify_fails(
        &car_bytes(&root, &missing),
        &format!("links to {gone}, which is missing"),
    );

    let mut duplicated = blocks.clone();
    duplicated.push(blocks[3].clone());
    expect_refused(
        &car_bytes(&root, &duplicated),
        &format!("duplicate block {}", blocks[3].0),
    );

    let mut orphaned = blocks.clone();
    orphaned.push((cid_of(0x55, b"stray"), b"stray".to_vec()));
    expect_verify_fails(&car_bytes(&root, &orphaned), "is not reachable from the root");
}

/// The fixture with its manifest replaced by `edit` of it.
fn with_manifest(dir: &Path, edit: impl Fn(&mut BTreeMap<String, Ipld>)) -> Vec<u8> {
    let (root, mut blocks) = fixture_blocks(dir);
    assert_eq!(blocks[0].0, root);
    let Ipld::Map(mut manifest) = serde_ipld_dagcbor::from_slice(&blocks[0].1).unwrap() else {
        panic!("a map")
    };
    edit(&mut manifest);
    let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(manifest)).unwrap();
    let new_root = cid_of(0x71, &bytes);
    blocks[0] = (new_root, bytes);
    car_bytes(&new_root, &blocks)
}

#[test]
fn manifests_of_the_wrong_shape() {
    let dir = tempdir();
    let wrong_count = with_manifest(dir.path(), |m| {
        m.insert("count".into(), Ipld::String("many".into()));
    });
    expect_refused(&wrong_count, "manifest is malformed");
    let other_format = with_manifest(dir.path(), |m| {
        m.insert("format".into(), Ipld::String("other".into()));
    });
    expect_refused(&other_format, "not a vecar archive (root is a \"other\" manifest)");
    let too_many = with_manifest(dir.path(), |m| {
        m.insert("count".into(), Ipld::Integer(1 << 40));
    });
    expect_refused(&too_many, "the file cannot hold them");
    let raw_root = cid_of(0x55, b"raw");
    expect_refused(
        &car_bytes(&raw_root, &[(raw_root, b"raw".to_vec())]),
        "not a vecar archive (root is a raw block",
    );
}

#[test]
fn an_index_whose_header_disagrees_with_the_manifest() {
    let dir = tempdir();
    let lying = with_manifest(dir.path(), |m| {
        let Some(Ipld::Map(index)) = m.get_mut("index") else {
            panic!("index")
        };
        let Some(Ipld::Map(params)) = index.get_mut("params") else {
            panic!("params")
        };
        params.insert("dtype".into(), Ipld::String("f16".into()));
    });
    let dir2 = tempdir();
    let car = dir2.path().join("bad.car");
    std::fs::write(&car, &lying).unwrap();
    vecar(&["verify", s(&car)]).fails_with("index header says 384 dimensions, IP, I8");
    vecar(&[
        "query",
        s(&car),
        "--vector",
        &format!("[{}]", vec!["0.1"; 384].join(",")),
    ])
    .fails_with("index header says");
}

#[test]
fn a_link_node_whose_counts_disagree() {
    let dir = tempdir();
    let lying = with_manifest(dir.path(), |m| {
        let Some(Ipld::Map(records)) = m.get_mut("records") else {
            panic!("records")
        };
        records.insert("items".into(), Ipld::Integer(299));
        let Some(Ipld::Map(vectors)) = m.get_mut("vectors") else {
            panic!("vectors")
        };
        let Some(Ipld::Map(chunks)) = vectors.get_mut("chunks") else {
            panic!("chunks")
        };
        chunks.insert("items".into(), Ipld::Integer(299));
        m.insert("count".into(), Ipld::Integer(299));
    });
    expect_refused(&lying, "holds 300 items; its parent says 299");
}

#[test]
fn indefinite_lengths_are_not_dag_cbor() {
    let block = vec![0x9f, 0x01, 0xff];
    let root = cid_of(0x71, &block);
    expect_refused(&car_bytes(&root, &[(root, block)]), "indefinite or reserved length");
}

/// Flips one random bit of the archive, 1,000 times: `verify` must report every flip, and
/// `query` must either answer exactly as before or fail; it never returns different hits.
#[test]
fn every_flipped_bit_is_caught() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--threads", "1"]);
    let bytes = std::fs::read(&car).unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(fixture("docs.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let vector = doc["vector"].to_string();
    let query = |path: &Path| vecar(&["query", s(path), "-k", "5", "--vector", &vector]);
    let expected = query(&car).ok().stdout;
    let trials = 1000;
    std::thread::scope(|scope| {
        for worker in 0..2u64 {
            let (bytes, expected, dir, query) = (&bytes, &expected, dir.path(), &query);
            scope.spawn(move || {
                let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ worker;
                for trial in (worker..trials).step_by(2) {
                    let bit = xorshift(&mut state) % (bytes.len() as u64 * 8);
                    let mut flipped = bytes.clone();
                    flipped[(bit / 8) as usize] ^= 1 << (bit % 8);
                    let path = dir.join(format!("flip-{worker}.car"));
                    std::fs::write(&path, &flipped).unwrap();
                    let verify = vecar(&["verify", s(&path)]);
                    assert_eq!(verify.code, 1, "trial {trial}: bit {bit} went unnoticed by verify");
                    let answer = query(&path);
                    assert!(
                        answer.code == 1 || answer.stdout == *expected,
                        "trial {trial}: bit {bit} changed the hits"
                    );
                    assert!(
                        answer.code == 0 || answer.code == 1,
                        "trial {trial}: bit {bit}: {}",
                        answer.stderr
                    );
                }
            });
        }
    });
}

/// Re-hashes blocks whose bytes changed and rewrites every link to them (CIDs are 36 bytes, so a
/// link is replaced in place), up to the root: an archive whose hashes are all valid.
fn rehash(mut root: Cid, blocks: &mut [(Cid, Vec<u8>)]) -> Cid {
    loop {
        let stale = blocks.iter().position(|(cid, data)| cid_of(cid.codec(), data) != *cid);
        let Some(i) = stale else { return root };
        let (old, new) = (blocks[i].0, cid_of(blocks[i].0.codec(), &blocks[i].1));
        blocks[i].0 = new;
        let (old_bytes, new_bytes) = (old.to_bytes(), new.to_bytes());
        for (_, data) in blocks.iter_mut() {
            let mut at = 0;
            while let Some(found) = data[at..]
                .windows(old_bytes.len())
                .position(|w| w == old_bytes.as_slice())
            {
                data[at + found..at + found + new_bytes.len()].copy_from_slice(&new_bytes);
                at += found + new_bytes.len();
            }
        }
        if root == old {
            root = new;
        }
    }
}

/// An index crafted by the archive's author, with valid hashes and a matching header, must be
/// refused (or answered) without crashing: usearch never sees a graph that fails the layout check.
#[test]
fn crafted_indexes_with_valid_hashes_never_crash_the_query() {
    let dir = tempdir();
    let (root, blocks) = fixture_blocks(dir.path());
    let roles: Vec<String> = vecar(&["ls", "--json", s(&dir.path().join("docs.car"))])
        .ok()
        .json_lines()
        .iter()
        .map(|b| b["role"].as_str().unwrap().to_string())
        .collect();
    let index = roles.iter().position(|r| r == "index").unwrap();
    // The fixture's index is i8 by default: an 8-byte head, then 300 rows of 384 bytes.
    let graph_start = 8 + 300 * 384;
    let vector = format!("[{}]", vec!["0.05"; 384].join(","));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || xorshift(&mut state);
    let (mut answered, mut refused) = (0, 0);
    for trial in 0..150 {
        let mut crafted = blocks.clone();
        let data = &mut crafted[index].1;
        for _ in 0..[1, 4, 32][trial % 3] {
            let at = graph_start + (next() as usize) % (data.len() - graph_start);
            data[at] = next() as u8;
        }
        let crafted_root = rehash(root, &mut crafted);
        let car = dir.path().join("crafted.car");
        std::fs::write(&car, car_bytes(&crafted_root, &crafted)).unwrap();
        let run = vecar(&["query", s(&car), "-k", "3", "--vector", &vector]);
        match run.code {
            0 => answered += 1,
            1 => refused += 1,
            _ => panic!("trial {trial}: vecar crashed: {}", run.stderr),
        }
    }
    assert!(
        refused > 50,
        "most crafted graphs are refused: {answered} answered, {refused} refused"
    );
}
