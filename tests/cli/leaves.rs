//! Leaves read lazily: an archive whose records and vectors leaves (the link nodes that link
//! chunks) are read as rows are asked for answers every command exactly as one whose leaves are
//! all read at open, fetches only the leaves its rows are under, and refuses a corrupt leaf.
//! A file's leaves are read lazily; a remote archive's past 6 MiB of them. The hidden
//! `VECAR_EAGER_LEAVES` moves that line for every source, and the hidden `--max-links` gives
//! small archives many leaves.

use std::path::{Path, PathBuf};

use crate::common::*;
use crate::remote::{block_requests, blocks_of, gateway, Behaviour};

/// Every archive read lazily.
const LAZY: (&str, &str) = ("VECAR_EAGER_LEAVES", "0");
/// Every archive's leaves read at open.
const AT_OPEN: (&str, &str) = ("VECAR_EAGER_LEAVES", "18446744073709551615");

/// An archive of `n` rows of 3 dimensions with ids `r0`, `r1`, ... and a number field, built
/// with `flags` into `dir/name`.
fn tiny(dir: &Path, name: &str, n: usize, flags: &[&str]) -> PathBuf {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut lines = String::with_capacity(n * 60);
    for i in 0..n {
        let v: Vec<String> = (0..3)
            .map(|_| format!("{:.3}", (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0))
            .collect();
        lines.push_str(&format!(
            "{{\"id\":\"r{i}\",\"vector\":[{}],\"n\":{}}}\n",
            v.join(","),
            i % 7
        ));
    }
    let (input, car) = (dir.join(format!("{name}.jsonl")), dir.join(name));
    std::fs::write(&input, lines).unwrap();
    let mut args = vec!["build", s(&input), "-o", s(&car), "-q"];
    args.extend(flags);
    vecar(&args).ok();
    car
}

/// `count` query lines of 3 dimensions.
fn queries(count: usize) -> Vec<u8> {
    let mut state = 99u64;
    let line = |_| {
        let v: Vec<String> = (0..3)
            .map(|_| format!("{:.3}", (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0))
            .collect();
        format!("{{\"vector\":[{}]}}\n", v.join(","))
    };
    (0..count).map(line).collect::<String>().into_bytes()
}

/// The CIDs of the leaves of the records and vectors trees: their link nodes less the roots
/// (a build writes each tree's link nodes top level first).
fn leaves(car: &Path) -> Vec<String> {
    let (listed, mut leaves) = (vecar(&["ls", "--json", s(car)]).ok().json_lines(), Vec::new());
    for role in ["records-links", "vectors-links"] {
        let nodes = listed.iter().filter(|b| b["role"] == role);
        leaves.extend(nodes.skip(1).map(|b| b["cid"].as_str().unwrap().to_string()));
    }
    leaves
}

#[test]
fn a_lazily_read_archive_answers_every_command_as_one_read_whole() {
    let dir = tempdir();
    let hnsw = tiny(
        dir.path(),
        "h.car",
        10_000,
        &["--index", "hnsw", "--threads", "1", "--max-links", "64"],
    );
    let partitioned = tiny(dir.path(), "p.car", 30_000, &["--max-links", "256"]);
    for car in [&hnsw, &partitioned] {
        assert!(leaves(car).len() >= 4, "{car:?} has leaves under its roots");
        let path = s(car);
        let commands: Vec<Vec<&str>> = vec![
            vec!["query", path, "-k", "7"],
            vec!["query", path, "-k", "3", "--filter", "n = 2"],
            vec!["query", path, "-k", "3", "--like", "r4321"],
            vec!["query", path, "-k", "3", "--exact"],
            vec!["get", path, "r17", "r9999", "r0"],
            vec!["export", path],
            vec!["ls", "--json", path],
            vec!["info", "--json", path],
            vec!["verify", path],
        ];
        for command in commands {
            let stdin = if command[0] == "query" && !command.contains(&"--like") {
                queries(20)
            } else {
                Vec::new()
            };
            let whole = vecar_with_env(&command, &stdin, &[AT_OPEN]).ok();
            let lazy = vecar_with_stdin(&command, &stdin).ok();
            assert_eq!(lazy.stdout, whole.stdout, "{command:?}");
            assert!(!whole.stdout.is_empty(), "{command:?}");
        }
    }
}

#[test]
fn a_remote_query_fetches_only_the_leaves_its_rows_are_under() {
    let dir = tempdir();
    let car = tiny(dir.path(), "p.car", 100_000, &["--max-links", "256"]);
    let leaves = leaves(&car);
    assert!(
        leaves.len() >= 40,
        "100,000 rows: about 25 leaves a tree: {}",
        leaves.len()
    );
    let honest = gateway(blocks_of(&car), Behaviour::Honest);
    let (remote, base) = (format!("ipfs://{}", root_of(&car)), honest.base());
    let args = ["query", &remote, "-k", "3", "--gateway", &base, "--no-cache"];
    let local = vecar_with_stdin(&["query", s(&car), "-k", "3"], &queries(1))
        .ok()
        .stdout;
    // The leaves asked for from request `from` on, and the run's round trips.
    let fetched = |from: usize, run: &Run| {
        let requests = &honest.requests()[from..];
        let said = format!(" in {} requests, ", requests.len());
        assert!(run.stderr.contains(&said), "{said}: {}", run.stderr);
        let leaf = |path: &String| leaves.iter().any(|cid| path.contains(cid.as_str()));
        let round_trips = run.stderr.split(" round trips").next().unwrap();
        let round_trips: usize = round_trips.rsplit(' ').next().unwrap().parse().unwrap();
        (requests.iter().filter(|r| leaf(&r.path)).count(), round_trips)
    };

    let whole = vecar_with_stdin(&args, &queries(1)).ok();
    assert_eq!(whole.stdout, local);
    assert_eq!(fetched(0, &whole), (leaves.len(), 5), "read at open: every leaf");
    let before = block_requests(&honest);
    let lazy = vecar_with_env(&args, &queries(1), &[LAZY]).ok();
    assert_eq!(lazy.stdout, local);
    let (asked, round_trips) = fetched(before, &lazy);
    // 3 hits of 6 candidates (--rescore 2): for each candidate at most a vectors leaf and a
    // records leaf (the candidates' records are fetched with their vectors, as few as they
    // are); asked together, one round trip more than reading every leaf at open.
    assert!(
        (2..=12).contains(&asked),
        "a lazy query fetched {asked} of {} leaves",
        leaves.len()
    );
    assert_eq!(round_trips, 6, "{}", lazy.stderr);
}

#[test]
fn a_corrupt_leaf_is_refused_naming_the_archive_and_the_block() {
    let dir = tempdir();
    let car = tiny(dir.path(), "p.car", 30_000, &["--max-links", "256"]);
    let mut bytes = std::fs::read(&car).unwrap();
    let listed = vecar(&["ls", "--json", s(&car)]).ok().json_lines();
    let leaves = leaves(&car);
    // One byte of every leaf changed, in place: each block's hash no longer matches its CID.
    for block in listed
        .iter()
        .filter(|b| leaves.contains(&b["cid"].as_str().unwrap().to_string()))
    {
        // The section: its length (a varint), the CID, then the block; change its last byte.
        let mut at = block["offset"].as_u64().unwrap() as usize;
        let (mut len, mut shift) = (0, 0);
        while bytes[at] >= 0x80 {
            len |= ((bytes[at] & 0x7f) as usize) << shift;
            (at, shift) = (at + 1, shift + 7);
        }
        len |= (bytes[at] as usize) << shift;
        bytes[at + len] ^= 1;
    }
    let bad = dir.path().join("bad.car");
    std::fs::write(&bad, &bytes).unwrap();
    for env in [&[AT_OPEN][..], &[]] {
        let run = vecar_with_env(&["query", s(&bad), "-k", "3"], &queries(1), env);
        run.fails_with("bad.car: block ");
        run.fails_with(" is corrupt (its sha2-256 does not match its CID)");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        let cid = run.stderr.split("block ").nth(1).unwrap().split(' ').next().unwrap();
        assert!(leaves.iter().any(|leaf| leaf == cid), "names a leaf: {}", run.stderr);
    }
}
