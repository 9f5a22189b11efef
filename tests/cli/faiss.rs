//! The FAISS bridge against faiss-cpu itself (tests/py/install.sh puts it in tests/py/.venv):
//! index files FAISS writes come in with their ids and float32 bits, and the files vecar writes
//! open in `faiss.read_index` and find what `vecar query --exact` finds.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// Runs `script` with the test venv's Python in `dir`; gives its stdout.
#[track_caller]
fn python(dir: &Path, script: &str) -> String {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/.venv/bin/python");
    assert!(python.exists(), "run tests/py/install.sh first");
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Python that makes `x`, 300 random float32 vectors of 16 dimensions (written to x.f32).
const DATA: &str = "
import faiss, numpy as np
rng = np.random.default_rng(7)
x = rng.standard_normal((300, 16)).astype('float32')
x.tofile('x.f32')
def ivf(n_add, nlist):
    q = faiss.IndexFlatL2(16)
    index = faiss.IndexIVFFlat(q, 16, nlist)
    index.train(x)
    index.add(x[:n_add])
    return index
";

/// The float32 vectors of a raw little-endian file, `dims` a row.
fn raw_vectors(path: &Path, dims: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks_exact(4 * dims)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        })
        .collect()
}

/// The ids and vectors (bit-exact) of an archive, from `vecar export`.
fn exported(archive: &Path) -> Vec<(Value, Vec<f32>)> {
    vecar(&["export", s(archive)])
        .ok()
        .json_lines()
        .into_iter()
        .map(|line| {
            let vector = line["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.to_string().parse::<f32>().unwrap())
                .collect();
            (line["id"].clone(), vector)
        })
        .collect()
}

fn bits(vector: &[f32]) -> Vec<u32> {
    vector.iter().map(|x| x.to_bits()).collect()
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn every_supported_faiss_index_comes_in_with_its_ids_and_vectors_bit_exact() {
    let dir = tempdir();
    python(
        dir.path(),
        &format!(
            "{DATA}
ids = np.arange(300, dtype='int64') * 7 + 3
def save(index, name): faiss.write_index(index, name + '.faiss')
f = faiss.IndexFlatL2(16); f.add(x); save(f, 'flat-l2')
f = faiss.IndexFlatIP(16); f.add(x); save(f, 'flat-ip')
h = faiss.IndexHNSWFlat(16, 8); h.add(x); save(h, 'hnsw')
save(ivf(300, 8), 'ivf-full')
save(ivf(5, 32), 'ivf-sparse')
m = faiss.IndexIDMap(faiss.IndexFlatIP(16)); m.add_with_ids(x, ids); save(m, 'idmap-flat')
m = faiss.IndexIDMap2(faiss.IndexHNSWFlat(16, 8)); m.add_with_ids(x, ids); save(m, 'idmap2-hnsw')
m = faiss.IndexIDMap(ivf(0, 8)); m.add_with_ids(x, ids); save(m, 'idmap-ivf')
v = ivf(0, 8); v.add_with_ids(x[::-1].copy(), ids[::-1].copy()); save(v, 'ivf-ids')
"
        ),
    );
    let x = raw_vectors(&dir.path().join("x.f32"), 16);
    let mapped: Vec<(i64, Vec<f32>)> = (0..300).map(|i| (i * 7 + 3, x[i as usize].clone())).collect();
    let plain: Vec<(i64, Vec<f32>)> = (0..300).map(|i| (i, x[i as usize].clone())).collect();
    let cases: [(&str, &str, &[(i64, Vec<f32>)]); 9] = [
        ("flat-l2", "l2", &plain),
        ("flat-ip", "ip", &plain),
        ("hnsw", "l2", &plain),
        ("ivf-full", "l2", &plain),
        ("ivf-sparse", "l2", &plain[..5]),
        ("idmap-flat", "ip", &mapped),
        ("idmap2-hnsw", "l2", &mapped),
        ("idmap-ivf", "l2", &mapped),
        // IVF lists keep no insertion order: records come ordered by id.
        ("ivf-ids", "l2", &mapped),
    ];
    for (name, metric, expected) in cases {
        let index = dir.path().join(format!("{name}.faiss"));
        let archive = dir.path().join(format!("{name}.car"));
        vecar(&["import", "faiss", s(&index), "-o", s(&archive)]).ok();
        let got = exported(&archive);
        assert_eq!(got.len(), expected.len(), "{name}");
        for ((id, vector), (want_id, want)) in got.iter().zip(expected) {
            assert_eq!(id, &Value::from(*want_id), "{name}");
            assert_eq!(bits(vector), bits(want), "{name}: vector of id {want_id}");
        }
        let info = vecar(&["info", "--json", s(&archive)]).ok().json_lines();
        assert_eq!(info[0]["metric"], metric, "{name}");
    }
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn records_join_by_id_and_a_missing_or_extra_record_writes_nothing() {
    let dir = tempdir();
    python(
        dir.path(),
        &format!(
            "{DATA}
m = faiss.IndexIDMap(faiss.IndexFlatIP(16)); m.add_with_ids(x[:3], np.array([10, 20, 30]))
faiss.write_index(m, 'three.faiss')
"
        ),
    );
    let index = dir.path().join("three.faiss");
    let records = dir.path().join("records.jsonl");
    let out = dir.path().join("out.car");
    std::fs::write(
        &records,
        "{\"id\": 30, \"text\": \"thirty\", \"tag\": [\"c\"]}\n{\"id\": \"10\", \"text\": \"ten\"}\n{\"id\": 20, \"text\": \"twenty\", \"n\": 2}\n",
    )
    .unwrap();
    vecar(&[
        "import",
        "faiss",
        s(&index),
        "--records",
        s(&records),
        "--metric",
        "cos",
        "-o",
        s(&out),
    ])
    .ok();
    let lines = vecar(&["export", s(&out)]).ok().json_lines();
    let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["ten", "twenty", "thirty"]);
    assert_eq!(lines[1]["n"], 2);
    assert_eq!(lines[2]["tag"], serde_json::json!(["c"]));
    assert_eq!(
        vecar(&["info", "--json", s(&out)]).ok().json_lines()[0]["metric"],
        "cos"
    );

    let missing = dir.path().join("missing.jsonl");
    std::fs::write(&missing, "{\"id\": 10}\n{\"id\": 30}\n").unwrap();
    let failed = dir.path().join("failed.car");
    vecar(&["import", "faiss", s(&index), "--records", s(&missing), "-o", s(&failed)])
        .fails_with("no record has id 20");
    let extra = dir.path().join("extra.jsonl");
    std::fs::write(&extra, "{\"id\": 10}\n{\"id\": 20}\n{\"id\": 30}\n{\"id\": 40}\n").unwrap();
    vecar(&["import", "faiss", s(&index), "--records", s(&extra), "-o", s(&failed)])
        .fails_with("extra.jsonl:4: the index has no vector with id 40");
    let wrong = dir.path().join("wrong.jsonl");
    std::fs::write(&wrong, "{\"id\": 10, \"vector\": [1]}\n{\"id\": 20}\n{\"id\": 30}\n").unwrap();
    vecar(&["import", "faiss", s(&index), "--records", s(&wrong), "-o", s(&failed)])
        .fails_with("wrong.jsonl:1: vector differs from the vector with id 10");
    assert!(!failed.exists());
}

/// Row numbers of `vecar query --exact` hits for the fixture's queries, by archive row.
fn exact_rows(archive: &Path, k: usize) -> Vec<Vec<usize>> {
    let row_of: HashMap<String, usize> = vecar(&["export", s(archive)])
        .ok()
        .json_lines()
        .iter()
        .enumerate()
        .map(|(row, line)| (line["id"].to_string(), row))
        .collect();
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let hits = vecar_with_stdin(&["query", s(archive), "--exact", "-k", &k.to_string()], &queries)
        .ok()
        .json_lines();
    let mut rows: Vec<(Value, Vec<usize>)> = Vec::new();
    for hit in hits {
        if rows.last().is_none_or(|(query, _)| *query != hit["query"]) {
            rows.push((hit["query"].clone(), Vec::new()));
        }
        rows.last_mut().unwrap().1.push(row_of[&hit["id"].to_string()]);
    }
    assert_eq!(rows.len(), 20, "a row of hits for each query");
    rows.into_iter().map(|(_, found)| found).collect()
}

/// The neighbours FAISS finds in `index` for the fixture's queries (normalised for cos), as
/// rows of ids.
fn faiss_rows(dir: &Path, index: &Path, k: usize, normalise: bool) -> Vec<Vec<usize>> {
    let script = format!(
        "
import faiss, json, numpy as np
q = np.array([json.loads(l)['vector'] for l in open({queries:?})], dtype='float32')
if {normalise}: faiss.normalize_L2(q)
index = faiss.read_index({index:?})
if hasattr(index, 'hnsw'): index.hnsw.efSearch = 64
_, found = index.search(q, {k})
for row in found: print(json.dumps([int(i) for i in row]))
",
        queries = s(&fixture("queries.jsonl")),
        normalise = if normalise { "True" } else { "False" },
        index = s(index),
    );
    python(dir, &script)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn exported_flat_index_finds_exactly_what_query_exact_finds() {
    let dir = tempdir();
    for metric in ["cos", "ip", "l2"] {
        let archive = build_fixture(dir.path(), &format!("{metric}.car"), &["--metric", metric]);
        let index = dir.path().join(format!("{metric}.faiss"));
        vecar(&[
            "export",
            s(&archive),
            "--to",
            "faiss",
            "--faiss-index",
            "flat",
            "-o",
            s(&index),
        ])
        .ok();
        let expected = exact_rows(&archive, 10);
        let found = faiss_rows(dir.path(), &index, 10, metric == "cos");
        assert_eq!(found, expected, "{metric}");
    }
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn exported_hnsw_index_is_the_archive_graph_and_recalls_at_least_95_percent() {
    let dir = tempdir();
    for (metric, dtype) in [("cos", "i8"), ("l2", "bf16"), ("ip", "f32")] {
        let archive = build_fixture(
            dir.path(),
            &format!("{metric}.car"),
            // One thread: the same graph every run (two threads give a new graph each time).
            &["--metric", metric, "--dtype", dtype, "--threads", "1"],
        );
        let index = dir.path().join(format!("{metric}.faiss"));
        vecar(&["export", s(&archive), "--to", "faiss", "-o", s(&index)]).ok();
        let kind = python(
            dir.path(),
            &format!("import faiss; i = faiss.read_index({:?}); print(type(i).__name__, i.ntotal, i.hnsw.nb_neighbors(0), i.hnsw.nb_neighbors(1))", s(&index)),
        );
        assert_eq!(kind.trim(), "IndexHNSWFlat 300 32 16", "{metric}");
        let expected = exact_rows(&archive, 10);
        let found = faiss_rows(dir.path(), &index, 10, metric == "cos");
        let hits: usize = expected
            .iter()
            .zip(&found)
            .map(|(e, f)| e.iter().filter(|row| f.contains(row)).count())
            .sum();
        let recall = hits as f64 / (10 * expected.len()) as f64;
        assert!(recall >= 0.95, "{metric}: recall@10 {recall}");
    }
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn refused_corrupt_and_truncated_faiss_files_name_the_problem_and_write_nothing() {
    let dir = tempdir();
    python(
        dir.path(),
        &format!(
            "{DATA}
faiss.write_index(faiss.index_factory(16, 'PQ4'), 'untrained-pq.faiss')
pq = faiss.IndexPQ(16, 4, 4); pq.train(x); pq.add(x); faiss.write_index(pq, 'pq.faiss')
sq = faiss.IndexScalarQuantizer(16, faiss.ScalarQuantizer.QT_8bit); sq.train(x); sq.add(x)
faiss.write_index(sq, 'sq.faiss')
q = faiss.IndexFlatL2(16); ivfpq = faiss.IndexIVFPQ(q, 16, 4, 4, 4); ivfpq.train(x); ivfpq.add(x)
faiss.write_index(ivfpq, 'ivfpq.faiss')
sq = faiss.IndexScalarQuantizer(16, faiss.ScalarQuantizer.QT_8bit); sq.train(x)
m = faiss.IndexIDMap(sq); m.add_with_ids(x, np.arange(300)); faiss.write_index(m, 'idmap-sq.faiss')
f = faiss.IndexFlatL2(16); f.add(x); faiss.write_index(f, 'flat.faiss')
h = faiss.IndexHNSWFlat(16, 8); h.add(x); faiss.write_index(h, 'hnsw.faiss')
faiss.write_index(ivf(300, 8), 'ivf.faiss')
"
        ),
    );
    let out = dir.path().join("out.car");
    let import = |name: &str| vecar(&["import", "faiss", s(&dir.path().join(name)), "-o", s(&out)]);
    for (name, message) in [
        (
            "pq.faiss",
            "pq.faiss: byte 0: index type \"IxPq\" (IndexPQ, lossy) is not supported",
        ),
        ("untrained-pq.faiss", "index type \"IxPq\" (IndexPQ, lossy)"),
        ("sq.faiss", "index type \"IxSQ\" (IndexScalarQuantizer, lossy)"),
        ("ivfpq.faiss", "index type \"IwPQ\" (IndexIVFPQ, lossy)"),
        ("idmap-sq.faiss", "byte 37: index type \"IxSQ\""),
    ] {
        import(name).fails_with(message);
    }

    let flat = std::fs::read(dir.path().join("flat.faiss")).unwrap();
    let damaged = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        import(name)
    };
    damaged("empty.faiss", b"").fails_with("empty.faiss: truncated: index type at byte 0 needs 4 bytes");
    damaged("header.faiss", &flat[..20]).fails_with("header.faiss: truncated: header at byte 16");
    damaged("cut.faiss", &flat[..flat.len() - 1]).fails_with(
        "cut.faiss: truncated: vectors at byte 45 claims 4800 items of 4 bytes, the file has 19199 bytes left",
    );
    let mut huge = flat.clone();
    huge[37..45].copy_from_slice(&u64::MAX.to_le_bytes());
    damaged("huge.faiss", &huge)
        .fails_with("huge.faiss: truncated: vectors at byte 45 claims 18446744073709551615 items");
    let mut longer = flat.clone();
    longer.push(0);
    damaged("longer.faiss", &longer).fails_with("longer.faiss: 1 bytes after the end of the index");
    let mut count = flat.clone();
    count[8..16].copy_from_slice(&301i64.to_le_bytes());
    damaged("count.faiss", &count).fails_with("count.faiss: holds 4800 numbers, not 301 vectors of 16");
    let mut metric = flat.clone();
    metric[33] = 7;
    damaged("metric.faiss", &metric).fails_with("metric.faiss: metric type 7 is not supported");
    let mut nan = flat.clone();
    nan[45 + 4 * 17..45 + 4 * 18].copy_from_slice(&f32::NAN.to_le_bytes());
    damaged("nan.faiss", &nan).fails_with("nan.faiss: record 2: vector[1] = NaN is not a finite number");
    damaged("text.faiss", b"hello, world").fails_with("text.faiss: byte 0: index type \"hell\" is not supported");
    for name in ["hnsw.faiss", "ivf.faiss"] {
        let whole = std::fs::read(dir.path().join(name)).unwrap();
        for cut in [whole.len() / 3, whole.len() / 2, whole.len() - 9] {
            let run = damaged("cut.faiss", &whole[..cut]);
            run.fails_with("cut.faiss: ");
            run.fails_with("truncated: ");
        }
    }
    assert!(!out.exists());
}

#[test]
fn export_to_faiss_needs_an_output_and_faiss_index_needs_to_faiss() {
    let dir = tempdir();
    let archive = build_fixture(dir.path(), "docs.car", &[]);
    let run = vecar(&["export", s(&archive), "--to", "faiss"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("give -o FILE"), "{}", run.stderr);
    let run = vecar(&["export", s(&archive), "--faiss-index", "flat"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--faiss-index is for --to faiss"), "{}", run.stderr);
    let run = vecar(&["export", s(&archive), "-o", s(&dir.path().join("x"))]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_failed_export_to_faiss_leaves_no_file() {
    let dir = tempdir();
    let archive = build_fixture(dir.path(), "docs.car", &[]);
    let blocks = vecar(&["ls", "--json", s(&archive)]).ok().json_lines();
    let last = blocks.iter().rfind(|b| b["role"] == "vectors").unwrap();
    let at = (last["offset"].as_u64().unwrap() + last["size"].as_u64().unwrap() - 1) as usize;
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[at] ^= 0xff; // the last vectors block, read after much is written
    let broken = dir.path().join("broken.car");
    std::fs::write(&broken, &bytes).unwrap();
    for kind in ["flat", "hnsw"] {
        let out = dir.path().join(format!("{kind}.faiss"));
        let run = vecar(&[
            "export",
            s(&broken),
            "--to",
            "faiss",
            "--faiss-index",
            kind,
            "-o",
            s(&out),
        ]);
        assert_eq!(run.code, 1, "{kind}: {}", run.stderr);
        assert!(!out.exists(), "{kind}");
    }
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn every_truncation_and_byte_flip_of_a_faiss_file_is_an_error_or_an_import_never_a_crash() {
    let dir = tempdir();
    python(
        dir.path(),
        "
import faiss, numpy as np
x = np.random.default_rng(3).standard_normal((6, 2)).astype('float32')
q = faiss.IndexFlatL2(2); v = faiss.IndexIVFFlat(q, 2, 2); v.train(x)
m = faiss.IndexIDMap(v); m.add_with_ids(x, np.arange(6) * 3); faiss.write_index(m, 'ivf.faiss')
m = faiss.IndexIDMap2(faiss.IndexHNSWFlat(2, 2)); m.add_with_ids(x, np.arange(6) * 3)
faiss.write_index(m, 'hnsw.faiss')
",
    );
    let file = dir.path().join("damaged.faiss");
    for name in ["ivf.faiss", "hnsw.faiss"] {
        let whole = std::fs::read(dir.path().join(name)).unwrap();
        let mut damaged: Vec<Vec<u8>> = (0..whole.len()).map(|cut| whole[..cut].to_vec()).collect();
        for at in 0..whole.len() {
            let mut flipped = whole.clone();
            flipped[at] ^= 0x80;
            damaged.push(flipped);
        }
        for (i, bytes) in damaged.iter().enumerate() {
            std::fs::write(&file, bytes).unwrap();
            let run = vecar(&["import", "faiss", s(&file), "-q", "-o", "/dev/null"]);
            let truncated = i < whole.len();
            assert!(
                (run.code == 1 && run.stderr.contains("damaged.faiss: ")) || (run.code == 0 && !truncated),
                "{name}, damage {i}: exit {}: {}",
                run.code,
                run.stderr
            );
        }
    }
}

#[test]
fn export_to_faiss_on_standard_output_gives_the_bytes_of_the_file() {
    let dir = tempdir();
    let archive = build_fixture(dir.path(), "docs.car", &["--threads", "1"]);
    for kind in ["flat", "hnsw"] {
        let file = dir.path().join(format!("{kind}.faiss"));
        vecar(&[
            "export",
            s(&archive),
            "--to",
            "faiss",
            "--faiss-index",
            kind,
            "-o",
            s(&file),
        ])
        .ok();
        let out = Command::new(env!("CARGO_BIN_EXE_vecar"))
            .args(["export", s(&archive), "--to", "faiss", "--faiss-index", kind, "-o", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, std::fs::read(&file).unwrap(), "{kind}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrote standard output: 300 vectors"));
    }
}
