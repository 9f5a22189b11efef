//! CARv2 with a block index, the default output: how it wraps the CARv1, and indexes that are
//! damaged or lie. An index is only a hint; every block is still checked against its CID, so
//! answers never change, and `verify` names the bad index.

use std::path::Path;

use super::common::{build_fixture, fixture, s, tempdir, vecar, vecar_with_stdin, xorshift};

/// The CARv2 header's u64 field at `at` (0: characteristics, 16: data offset, 24: data size,
/// 32: index offset), after the 11-byte pragma.
fn header_field(car: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(car[11 + at..19 + at].try_into().unwrap())
}

/// Bytes before the index's entries: varint 0x0401, hash count, hash code, width count, width,
/// entry bytes.
const INDEX_PREAMBLE: usize = 2 + 4 + 8 + 4 + 4 + 8;

#[test]
fn default_output_is_a_carv2_around_the_carv1_byte_for_byte() {
    let dir = tempdir();
    let v2 = build_fixture(dir.path(), "v2.car", &["--threads", "1"]);
    let v1 = build_fixture(dir.path(), "v1.car", &["--threads", "1", "--car-v1"]);
    let (v2, v1) = (std::fs::read(v2).unwrap(), std::fs::read(v1).unwrap());
    assert_eq!(
        &v2[..11],
        &[0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02]
    );
    assert_eq!(header_field(&v2, 16), 51);
    assert_eq!(header_field(&v2, 24), v1.len() as u64);
    assert_eq!(header_field(&v2, 32), 51 + v1.len() as u64);
    assert_eq!(&v2[51..51 + v1.len()], &v1[..]);
    let index = &v2[51 + v1.len()..];
    assert_eq!(&index[..2], &[0x81, 0x08], "MultihashIndexSorted");
    let blocks = vecar(&["info", "--json", s(&dir.path().join("v1.car"))])
        .ok()
        .json_lines()[0]["blocks"]
        .clone();
    assert_eq!((index.len() - INDEX_PREAMBLE) / 40, blocks.as_u64().unwrap() as usize);
    let run = vecar(&["verify", s(&dir.path().join("v2.car"))]).ok();
    assert!(
        run.stdout.contains(": ok, CARv2 with a block index, root"),
        "{}",
        run.stdout
    );
}

/// The fixture as a CARv2 in `dir`: its bytes, and a query run that must succeed, giving its
/// hits on the fixture's queries.
fn fixture_and_answers(dir: &Path) -> (Vec<u8>, impl Fn(&Path) -> String) {
    let car = build_fixture(dir, "docs.car", &[]);
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let answers = move |path: &Path| {
        let run = vecar_with_stdin(&["query", s(path), "-k", "3"], &queries).ok();
        assert!(!run.stdout.is_empty());
        run.stdout
    };
    (std::fs::read(car).unwrap(), answers)
}

#[test]
fn a_damaged_or_lying_index_changes_no_answer_and_verify_names_it() {
    let dir = tempdir();
    let (good, answers) = fixture_and_answers(dir.path());
    let expected = answers(&dir.path().join("docs.car"));
    let index_at = header_field(&good, 32) as usize;

    let truncated = good[..good.len() - 5].to_vec();
    let mut beyond = good.clone();
    beyond[43..51].copy_from_slice(&(good.len() as u64 + 100).to_le_bytes());
    let mut odd = good.clone();
    odd[11 + 15] = 1;
    let mut bloated = good.clone();
    bloated.resize(3 * good.len(), 0);
    let mut lying = good.clone();
    let entries = &mut lying[index_at + INDEX_PREAMBLE..];
    let offsets: Vec<[u8; 8]> = entries.chunks(40).map(|e| e[32..].try_into().unwrap()).collect();
    for (i, entry) in entries.chunks_mut(40).enumerate() {
        entry[32..].copy_from_slice(&offsets[(i + 1) % offsets.len()]);
    }
    for (name, bytes, problem) in [
        ("truncated.car", truncated, "the CARv2 index is unreadable"),
        ("beyond.car", beyond, "the CARv2 index is unreadable"),
        ("bloated.car", bloated, "more than an index of"),
        ("odd.car", odd, "sets characteristics the CARv2 spec does not define"),
        ("lying.car", lying, "the CARv2 index does not lead to block"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(answers(&path), expected, "{name}");
        let run = vecar(&["verify", s(&path)]);
        run.fails_with(problem);
        assert!(run.stderr.contains(name), "{}", run.stderr);
    }
}

#[test]
fn no_flipped_bit_of_the_header_or_index_changes_an_answer_or_passes_verify() {
    // The CARv2 header and index are outside the DAG's hashes, so verify checks them itself.
    // A damaged header may make the file unreadable; a damaged index must change nothing.
    let dir = tempdir();
    let (good, answers) = fixture_and_answers(dir.path());
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let expected = answers(&dir.path().join("docs.car"));
    let index_at = header_field(&good, 32);
    // Half the flips in the 51-byte CARv2 header, half in the index after the blocks.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for trial in 0..120u64 {
        let (start, len) = if trial % 2 == 0 {
            (0, 51)
        } else {
            (index_at, good.len() as u64 - index_at)
        };
        let bit = start * 8 + xorshift(&mut state) % (len * 8);
        if bit == 11 * 8 + 7 {
            continue; // "fully indexed", the one characteristic the spec defines: true of this file
        }
        let mut flipped = good.clone();
        flipped[(bit / 8) as usize] ^= 1 << (bit % 8);
        let path = dir.path().join("flipped.car");
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(vecar(&["verify", s(&path)]).code, 1, "bit {bit} passed verify");
        if trial % 2 == 1 {
            assert_eq!(answers(&path), expected, "index bit {bit} changed the answers");
            continue;
        }
        let run = vecar_with_stdin(&["query", s(&path), "-k", "3"], &queries);
        assert!(run.code == 0 || run.code == 1, "bit {bit}: {}", run.stderr);
        assert!(run.code == 1 || run.stdout == expected, "bit {bit} changed the answers");
    }
}
