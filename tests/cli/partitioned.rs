//! `build --index partitioned`: k-means partitions that a query reads a few of. Answers close to
//! exact search, the same bytes at any thread count, updates that keep the centroids and the
//! untouched partitions' blocks, corrupt partitions caught, and the usage errors.

use std::collections::HashSet;
use std::path::Path;

use crate::common::*;

/// The ids of each query's hits (one line per hit, queries in input order).
fn hit_ids(run: &Run) -> Vec<Vec<String>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for hit in run.json_lines() {
        let (query, id) = (hit["query"].to_string(), hit["id"].to_string());
        match out.last_mut() {
            Some((last, ids)) if *last == query => ids.push(id),
            _ => out.push((query, vec![id])),
        }
    }
    out.into_iter().map(|(_, ids)| ids).collect()
}

/// The share of `exact`'s hits that `found` has too, over all queries.
fn recall(found: &[Vec<String>], exact: &[Vec<String>]) -> f64 {
    let (mut hit, mut all) = (0, 0);
    for (f, e) in found.iter().zip(exact) {
        let f: HashSet<&String> = f.iter().collect();
        hit += e.iter().filter(|id| f.contains(id)).count();
        all += e.len();
    }
    hit as f64 / all as f64
}

fn query(car: &Path, flags: &[&str]) -> Run {
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let mut args = vec!["query", s(car), "-k", "10"];
    args.extend(flags);
    vecar_with_stdin(&args, &queries).ok()
}

fn info(car: &Path) -> serde_json::Value {
    vecar(&["info", "--json", s(car)]).ok().json_lines().remove(0)
}

#[test]
fn info_shows_a_partitioned_archives_partitions_and_nprobe_and_no_hnsw_settings() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "p.car", &["--partitions", "40"]);
    let described = info(&car);
    assert_eq!(described["partitions"]["count"], 40);
    assert_eq!(described["nprobe"], 32, "query's default --nprobe");
    for hnsw in ["connectivity", "expansion_add", "expansion_search"] {
        assert!(described.get(hnsw).is_none(), "{hnsw}: {described}");
    }
    let text = vecar(&["info", s(&car)]).ok().stdout;
    assert!(text.contains("\npartitions        count=40 rows_min="), "{text}");
    assert!(text.contains("\nnprobe            32\n"), "{text}");
    assert!(!text.contains("connectivity") && !text.contains("expansion"), "{text}");
    // With fewer partitions than the default nprobe, a query scans every one.
    let few = build_fixture(dir.path(), "few.car", &["--partitions", "4"]);
    assert_eq!(info(&few)["nprobe"], 4);
}

#[test]
fn a_partitioned_archive_answers_as_exact_search_does() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "p.car", &["--index", "partitioned"]);
    let described = info(&car);
    assert_eq!(described["engine"], "partitioned 2");
    let partitions = &described["partitions"];
    assert_eq!(partitions["count"], 17, "about √300 partitions: {described}");
    assert!(partitions["rows_min"].as_u64().unwrap() <= partitions["rows_max"].as_u64().unwrap());
    assert!(vecar(&["verify", s(&car)]).ok().stdout.contains("ok"));
    // The longest role name keeps a space before its counts, and one block is "1 block".
    let text = vecar(&["info", s(&car)]).ok().stdout;
    assert!(text.contains("\n  partitions-links  1 block, "), "{text}");

    let exact = query(&car, &["--exact"]);
    let all = query(&car, &["--nprobe", "17"]);
    // Every partition scanned: the re-scored candidates hold the exact top 10, with the same
    // (exact) scores.
    assert_eq!(recall(&hit_ids(&all), &hit_ids(&exact)), 1.0);
    assert_eq!(all.stdout, exact.stdout);
    let few = hit_ids(&query(&car, &["--nprobe", "4"]));
    let default = hit_ids(&query(&car, &[]));
    let (few, default) = (recall(&few, &hit_ids(&exact)), recall(&default, &hit_ids(&exact)));
    assert!(default >= 0.95, "recall@10 {default} at the default nprobe");
    assert!(few < 1.0 && few > 0.5, "4 of 17 partitions: recall {few}");

    // Filters and --like as on an HNSW archive.
    let filtered = |flags: &[&str]| {
        let mut args = vec!["--filter", "source = fortune"];
        args.extend(flags);
        query(&car, &args)
    };
    assert_eq!(filtered(&[]).stdout, filtered(&["--exact"]).stdout);
    let narrow = hit_ids(&filtered(&["--nprobe", "1"]));
    assert_eq!(narrow.len(), 20);
    assert!(
        narrow.iter().all(|hits| hits.len() == 10),
        "34 fortunes: 10 hits even from one partition"
    );
    let text = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let eighth: serde_json::Value = serde_json::from_str(text.lines().nth(7).unwrap()).unwrap();
    let id = eighth["id"].as_str().unwrap();
    let like = vecar(&["query", s(&car), "--like", id, "-k", "3"]).ok().stdout;
    let like_exact = vecar(&["query", s(&car), "--like", id, "-k", "3", "--exact"])
        .ok()
        .stdout;
    assert_eq!(like, like_exact);
}

#[test]
fn partitioned_builds_are_the_same_at_any_thread_count() {
    let dir = tempdir();
    let builds: Vec<Vec<u8>> = ["1", "2", "4"]
        .iter()
        .map(|threads| {
            let name = format!("t{threads}.car");
            std::fs::read(build_fixture(
                dir.path(),
                &name,
                &["--index", "partitioned", "--threads", threads],
            ))
            .unwrap()
        })
        .collect();
    assert!(builds.iter().all(|b| b == &builds[0]));
}

/// The first `n` lines of the fixture, written to `dir/name`.
fn head(dir: &Path, name: &str, lines: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    path
}

/// The CIDs of the blocks of `car` with `role`.
fn blocks_with_role(car: &Path, role: &str) -> HashSet<String> {
    let listing = vecar(&["ls", "--json", s(car)]).ok().json_lines();
    listing
        .into_iter()
        .filter(|b| b["role"] == role)
        .map(|b| b["cid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn add_joins_the_nearest_partitions_and_rm_takes_rows_out() {
    let dir = tempdir();
    let text = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let build = |input: &Path, out: &str| {
        let out = dir.path().join(out);
        vecar(&["build", s(input), "-o", s(&out), "--index", "partitioned"]).ok();
        out
    };
    let first = build(&head(dir.path(), "first.jsonl", &lines[..290]), "first.car");
    let rest = head(dir.path(), "rest.jsonl", &lines[290..]);
    let add = |out: &str, threads: &str| {
        let out = dir.path().join(out);
        let run = vecar(&["add", s(&first), s(&rest), "-o", s(&out), "--threads", threads]).ok();
        assert!(run.stderr.contains("index extended in place"), "{}", run.stderr);
        out
    };
    let (added, again) = (add("added.car", "2"), add("again.car", "1"));
    assert_eq!(std::fs::read(&added).unwrap(), std::fs::read(&again).unwrap());
    vecar(&["verify", s(&added)]).ok();
    // The centroids stay; 10 new rows touch at most 10 of the 17 partitions.
    assert_eq!(blocks_with_role(&added, "index"), blocks_with_role(&first, "index"));
    let (before, after) = (
        blocks_with_role(&first, "partitions"),
        blocks_with_role(&added, "partitions"),
    );
    assert!(
        before.difference(&after).count() <= 10,
        "{} partitions rewritten",
        before.difference(&after).count()
    );
    assert!(before.intersection(&after).count() >= 7);
    for line in &lines[290..] {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let vector = doc["vector"].to_string();
        let hits = vecar(&["query", s(&added), "--vector", &vector, "-k", "1", "--nprobe", "1"])
            .ok()
            .json_lines();
        assert_eq!(hits[0]["id"], doc["id"], "a new row is found in its own partition");
    }

    // rm of the rows add appended gives the base back: they leave the partitions they joined,
    // which are then the base's bytes again.
    let (ids, _) = ids_file(dir.path(), "ids.txt", &lines[290..]);
    let undone = dir.path().join("undone.car");
    let run = vecar(&["rm", s(&added), "--ids-from", s(&ids), "-o", s(&undone)]).ok();
    assert!(run.stderr.contains("index kept"), "{}", run.stderr);
    assert_eq!(root_of(&undone), root_of(&first));

    // rm of the last rows keeps the centroids, and the partitions none of them was in keep
    // their blocks (no row before theirs is renumbered).
    let whole = build(&fixture("docs.jsonl"), "whole.car");
    let trimmed = dir.path().join("trimmed.car");
    vecar(&["rm", s(&whole), "--ids-from", s(&ids), "-o", s(&trimmed)]).ok();
    vecar(&["verify", s(&trimmed)]).ok();
    assert_eq!(blocks_with_role(&trimmed, "index"), blocks_with_role(&whole, "index"));
    let (before, after) = (
        blocks_with_role(&whole, "partitions"),
        blocks_with_role(&trimmed, "partitions"),
    );
    assert!(before.difference(&after).count() <= 10);
    assert!(before.intersection(&after).count() >= 7);
    for role in ["records", "vectors"] {
        assert_eq!(blocks_with_role(&trimmed, role), blocks_with_role(&first, role));
    }

    // Fewer rows left than partitions (10 for 17): partitioned anew.
    let (most, _) = ids_file(dir.path(), "most.txt", &lines[10..]);
    let few = dir.path().join("few.car");
    let run = vecar(&["rm", s(&whole), "--ids-from", s(&most), "-o", s(&few)]).ok();
    assert!(run.stderr.contains("index rebuilt"), "{}", run.stderr);
    assert_eq!(info(&few)["partitions"]["count"], 3);
    vecar(&["verify", s(&few)]).ok();
}

/// The ids of the JSONL `lines`, and the file `dir/name` listing them one a line.
fn ids_file(dir: &Path, name: &str, lines: &[&str]) -> (std::path::PathBuf, Vec<String>) {
    let ids: Vec<String> = (lines.iter())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .into()
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, ids.join("\n")).unwrap();
    (path, ids)
}

/// The row numbers a row list chunk of `car` holds (u64 each).
fn rows_in_block(car: &Path, cid: &str) -> Vec<usize> {
    let file = vecar::archive::car::CarFile::open(car).unwrap();
    let bytes = file.block(&cid::Cid::try_from(cid).unwrap()).unwrap();
    let rows = bytes.chunks_exact(8);
    rows.map(|row| u64::from_le_bytes(row.try_into().unwrap()) as usize)
        .collect()
}

#[test]
fn rm_keeps_the_centroids_and_takes_the_rows_out_of_their_partitions() {
    let dir = tempdir();
    let docs = gunzip(&fixture("dev/docs.jsonl.gz"));
    let lines: Vec<&str> = std::str::from_utf8(&docs).unwrap().lines().collect();
    let car = dir.path().join("dev.car");
    vecar_with_stdin(&["build", "-", "-o", s(&car), "--index", "partitioned"], &docs).ok();
    // Every 50th row, and every row of one partition, which is left empty.
    let ls = vecar(&["ls", "--json", s(&car)]).ok().json_lines();
    let smallest = (ls.iter().filter(|b| b["role"] == "row-lists"))
        .min_by_key(|b| b["size"].as_u64())
        .unwrap();
    let mut gone: HashSet<usize> = rows_in_block(&car, smallest["cid"].as_str().unwrap())
        .into_iter()
        .collect();
    gone.extend((0..lines.len()).step_by(50));
    let queries: Vec<&str> = gone.iter().map(|&row| lines[row]).collect();
    let (ids, removed) = ids_file(dir.path(), "ids.txt", &queries);
    let rm = |threads: &str| {
        let out = dir.path().join(format!("rm-{threads}.car"));
        let run = vecar(&[
            "--threads",
            threads,
            "rm",
            s(&car),
            "--ids-from",
            s(&ids),
            "-o",
            s(&out),
        ])
        .ok();
        assert!(
            run.stderr.contains("index kept, removed rows taken out"),
            "{}",
            run.stderr
        );
        std::fs::read(&out).unwrap()
    };
    let trimmed = dir.path().join("rm-2.car");
    assert_eq!(rm("1"), rm("2"));
    vecar(&["verify", s(&trimmed)]).ok();
    assert_eq!(blocks_with_role(&trimmed, "index"), blocks_with_role(&car, "index"));
    let (before, after) = (info(&car)["partitions"].clone(), info(&trimmed)["partitions"].clone());
    assert_eq!(after["count"], before["count"]);
    assert_eq!(after["rows_min"], 0, "{after}");

    // Every remaining row is found by its own vector; the removed ones are in no answer.
    let kept: Vec<&str> = (0..lines.len())
        .filter(|r| !gone.contains(r))
        .map(|r| lines[r])
        .collect();
    let kept = kept.join("\n").into_bytes();
    let generous = ["-k", "1", "--nprobe", "16", "--rescore", "20"];
    assert_eq!(crate::reach::lost_records(&trimmed, &kept, &generous), 0);
    let args = [
        "query",
        s(&trimmed),
        "-k",
        "10",
        "--nprobe",
        "1",
        "--fields",
        "query,id",
    ];
    let hits = vecar_with_stdin(&args, queries.join("\n").as_bytes()).ok().json_lines();
    assert_eq!(
        hits.len(),
        10 * gone.len(),
        "10 hits each, the empty partition probed too"
    );
    let removed: HashSet<&str> = removed.iter().map(String::as_str).collect();
    assert!(hits.iter().all(|h| !removed.contains(h["id"].as_str().unwrap())));
    let one = removed.iter().next().unwrap();
    vecar(&["get", s(&trimmed), one]).fails_with(&format!("no record with id {one}"));
}

#[test]
fn big_partitions_span_several_blocks_and_each_is_checked() {
    let dir = tempdir();
    // 1,500 rows of 1,024 dimensions in one partition: 1,040 bytes a row, 1,008 rows a block.
    let mut state = 0x2545f4914f6cdd1du64;
    let mut lines = String::new();
    for i in 0..1500 {
        let v: Vec<String> = (0..1024)
            .map(|_| format!("{:.3}", (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0))
            .collect();
        lines.push_str(&format!("{{\"id\":{i},\"vector\":[{}]}}\n", v.join(",")));
    }
    let input = dir.path().join("big.jsonl");
    std::fs::write(&input, &lines).unwrap();
    let car = dir.path().join("big.car");
    vecar(&[
        "build",
        s(&input),
        "-o",
        s(&car),
        "--index",
        "partitioned",
        "--partitions",
        "1",
    ])
    .ok();
    let ls = vecar(&["ls", "--json", s(&car)]).ok().json_lines();
    let partition_blocks: Vec<&serde_json::Value> = ls.iter().filter(|b| b["role"] == "partitions").collect();
    assert_eq!(partition_blocks.len(), 2);
    assert!(partition_blocks.iter().all(|b| b["size"].as_u64().unwrap() <= 1 << 20));
    let own = lines.lines().nth(777).unwrap();
    let vector = serde_json::from_str::<serde_json::Value>(own).unwrap()["vector"].to_string();
    let hits = vecar(&["query", s(&car), "--vector", &vector, "-k", "1"])
        .ok()
        .json_lines();
    assert_eq!(hits[0]["id"], 777);

    // Flip a byte inside the second partition block: verify and query both refuse it.
    let mut file = std::fs::read(&car).unwrap();
    let block = partition_blocks[1];
    let at = (block["offset"].as_u64().unwrap() + 100) as usize;
    file[at] ^= 1;
    let bad = dir.path().join("bad.car");
    std::fs::write(&bad, &file).unwrap();
    vecar(&["verify", s(&bad)]).fails_with(block["cid"].as_str().unwrap());
    let other = lines.lines().nth(1400).unwrap();
    let vector = serde_json::from_str::<serde_json::Value>(other).unwrap()["vector"].to_string();
    vecar(&["query", s(&bad), "--vector", &vector, "-k", "1"]).fails_with(block["cid"].as_str().unwrap());
}

#[test]
fn partitioned_flags_are_checked() {
    let dir = tempdir();
    let input = fixture("docs.jsonl");
    let out = dir.path().join("x.car");
    let run = vecar(&[
        "build",
        s(&input),
        "-o",
        s(&out),
        "--index",
        "hnsw",
        "--partitions",
        "4",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("--partitions is for a partitioned index, not --index hnsw"));
    let run = vecar(&[
        "build",
        s(&input),
        "-o",
        s(&out),
        "--index",
        "partitioned",
        "--dtype",
        "f32",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!out.exists());
    let car = build_fixture(dir.path(), "p.car", &["--index", "partitioned", "--partitions", "5"]);
    assert_eq!(info(&car)["partitions"]["count"], 5);
    let faiss = dir.path().join("x.faiss");
    vecar(&["export", s(&car), "--to", "faiss", "-o", s(&faiss)]).fails_with("partitioned");
}

#[test]
fn a_version_1_partitioned_archive_is_read_and_updated_to_version_2() {
    // fixtures/partitioned-v1.car: the first 24 records of docs.jsonl, built with
    // `--index partitioned --partitions 3` by vecar 970ba4f (row numbers inside the codes).
    let dir = tempdir();
    let v1 = fixture("partitioned-v1.car");
    let text = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = head(dir.path(), "first.jsonl", &lines[..24]);
    let v2 = dir.path().join("v2.car");
    vecar(&[
        "build",
        s(&first),
        "-o",
        s(&v2),
        "--index",
        "partitioned",
        "--partitions",
        "3",
    ])
    .ok();
    assert_eq!(info(&v1)["engine"], "partitioned 1");
    assert!(vecar(&["verify", s(&v1)]).ok().stdout.contains("ok"));
    assert!(blocks_with_role(&v1, "row-lists").is_empty());
    // The same centroids and partitions, so the same answers, from one probed partition too.
    assert_eq!(blocks_with_role(&v1, "index"), blocks_with_role(&v2, "index"));
    for flags in [&[][..], &["--nprobe", "1"]] {
        assert_eq!(query(&v1, flags).stdout, query(&v2, flags).stdout);
    }
    // An update writes version 2: the archive the same update of the version 2 build gives.
    let (ids, _) = ids_file(dir.path(), "ids.txt", &[lines[2], lines[17]]);
    let more = head(dir.path(), "more.jsonl", &lines[24..30]);
    for car in [&v1, &v2] {
        let removed = dir.path().join("removed.car");
        vecar(&["rm", s(car), "--ids-from", s(&ids), "-o", s(&removed)]).ok();
        let added = dir.path().join("added.car");
        vecar(&["add", s(&removed), s(&more), "-o", s(&added)]).ok();
        let name = car.file_name().unwrap().to_str().unwrap();
        std::fs::rename(&added, dir.path().join(format!("updated-{name}"))).unwrap();
    }
    let updated = dir.path().join("updated-partitioned-v1.car");
    assert_eq!(root_of(&updated), root_of(&dir.path().join("updated-v2.car")));
    assert_eq!(info(&updated)["engine"], "partitioned 2");
}

/// Line `to` of `lines` with the vector of line `from`: the same id and record, another vector.
fn with_vector_of(lines: &[&str], to: usize, from: usize) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(lines[to]).unwrap();
    doc["vector"] = serde_json::from_str::<serde_json::Value>(lines[from]).unwrap()["vector"].take();
    doc.to_string()
}

#[test]
fn replacing_rows_moves_them_to_their_nearest_partitions_and_keeps_the_centroids() {
    let dir = tempdir();
    let text = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let base = build_fixture(dir.path(), "base.car", &["--index", "partitioned"]);
    let new = [with_vector_of(&lines, 5, 100), with_vector_of(&lines, 200, 7)];
    let new = head(dir.path(), "new.jsonl", &[&new[0], &new[1]]);
    let add = |threads: &str| {
        let out = dir.path().join(format!("replaced-{threads}.car"));
        let run = vecar(&["add", s(&base), s(&new), "-o", s(&out), "--threads", threads]).ok();
        assert!(run.stderr.contains("index kept, replaced rows moved"), "{}", run.stderr);
        out
    };
    let replaced = add("2");
    assert_eq!(std::fs::read(&replaced).unwrap(), std::fs::read(add("1")).unwrap());
    vecar(&["verify", s(&replaced)]).ok();
    assert_eq!(blocks_with_role(&replaced, "index"), blocks_with_role(&base, "index"));
    // Two rows leave and two join: at most four partitions change, codes and row lists alike.
    for role in ["partitions", "row-lists"] {
        let (before, after) = (blocks_with_role(&base, role), blocks_with_role(&replaced, role));
        assert!(before.difference(&after).count() <= 4, "{role}");
        assert!(before.intersection(&after).count() >= 13, "{role}");
    }
    // Row 5 now has row 100's vector: one probed partition finds both.
    let vector = serde_json::from_str::<serde_json::Value>(lines[100]).unwrap()["vector"].to_string();
    let hits = vecar(&["query", s(&replaced), "--vector", &vector, "-k", "2", "--nprobe", "1"])
        .ok()
        .json_lines();
    let ids: HashSet<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    let id = |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["id"].clone();
    assert!(ids.contains(id(lines[5]).as_str().unwrap()) && ids.contains(id(lines[100]).as_str().unwrap()));

    // The old vectors back give the base back, root CID included.
    let back = head(dir.path(), "back.jsonl", &[lines[5], lines[200]]);
    let restored = dir.path().join("restored.car");
    vecar(&["add", s(&replaced), s(&back), "-o", s(&restored)]).ok();
    assert_eq!(root_of(&restored), root_of(&base));
    // merge moves the rows another archive replaces the same way.
    let other = dir.path().join("other.car");
    vecar(&["build", s(&new), "-o", s(&other)]).ok();
    let merged = dir.path().join("merged.car");
    let run = vecar(&["merge", s(&base), s(&other), "--on-conflict", "last", "-o", s(&merged)]).ok();
    assert!(run.stderr.contains("index kept, replaced rows moved"), "{}", run.stderr);
    assert_eq!(root_of(&merged), root_of(&replaced));
}
