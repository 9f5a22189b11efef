//! How inputs that are not what vecar expects are told apart: a bad query line among good ones,
//! an archive given as a FIFO, a CAR that is not a vecar archive, an archive cut while in use.

use std::path::Path;
use std::process::{Command, Stdio};

use cid::Cid;
use serde_json::{json, Value};

use crate::common::*;

/// The fixture's query lines.
fn query_lines() -> Vec<String> {
    std::fs::read_to_string(fixture("queries.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_bad_query_line_comes_after_the_answers_to_the_lines_before_it() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let good = query_lines();
    // 1,500 good lines (more than one batch), then a bad one, then a good one never answered.
    let mut lines: Vec<String> = (0..1500).map(|i| good[i % good.len()].clone()).collect();
    for bad in [
        "{\"id\": \"x\", \"vector\": [1, 2,",
        "{\"id\": \"x\", \"vector\": [1, 2]}",
    ] {
        lines.truncate(1500);
        lines.push(bad.to_string());
        lines.push(good[0].clone());
        let stdin = lines.join("\n") + "\n";
        let run = vecar_with_stdin(&["query", s(&car), "-k", "2"], stdin.as_bytes());
        run.fails_with("<stdin>:1501:");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        let hits = run.json_lines();
        assert_eq!(hits.len(), 1500 * 2, "every line before the bad one is answered");
        // The same answers as the good lines alone give.
        let alone = vecar_with_stdin(
            &["query", s(&car), "-k", "2"],
            (lines[..1500].join("\n") + "\n").as_bytes(),
        );
        assert_eq!(run.stdout, alone.ok().stdout);
        // Every format ends its output properly before the error.
        let json = vecar_with_stdin(&["query", s(&car), "-k", "2", "--format", "json"], stdin.as_bytes());
        json.fails_with("<stdin>:1501:");
        let array: Value = serde_json::from_str(&json.stdout).expect("one whole JSON array");
        assert_eq!(array.as_array().unwrap().len(), 3000);
    }
}

#[test]
fn query_help_says_what_happens_at_a_bad_line() {
    let help = vecar(&["query", "--help"]).ok().stdout;
    assert!(help.contains("stops at the first bad line"), "{help}");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

#[test]
fn an_archive_given_as_a_fifo_is_read_whole() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let expected = vecar(&["info", "--json", s(&car)]).ok().json_lines()[0]["root"].clone();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for command in ["verify", "info", "export", "ls", "query"] {
        let writer = {
            let (fifo, bytes) = (fifo.clone(), std::fs::read(&car).unwrap());
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        let mut args = vec![command, s(&fifo)];
        if command == "query" {
            args.extend(["--like", "doc-00033"]);
        }
        let run = vecar(&args).ok();
        writer.join().unwrap().unwrap();
        assert!(!run.stdout.is_empty(), "{command}");
        if command == "verify" {
            assert!(run.stdout.contains(expected.as_str().unwrap()), "{}", run.stdout);
        }
    }
    // Through bash's process substitution too.
    let line = format!("{} verify <(cat {})", env!("CARGO_BIN_EXE_vecar"), s(&car));
    let out = Command::new("bash").args(["-c", &line]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn json_lines_or_a_gzip_file_given_as_an_archive_are_named_as_such() {
    let dir = tempdir();
    let gz = dir.path().join("docs.car.gz");
    let out = Command::new("gzip")
        .arg("-c")
        .arg(fixture("docs.jsonl"))
        .output()
        .unwrap();
    std::fs::write(&gz, out.stdout).unwrap();
    let docs = fixture("docs.jsonl");
    for (file, what) in [
        (s(&docs), "it starts with '{'); it looks like JSON"),
        (s(&gz), "it is gzip-compressed"),
    ] {
        for command in ["verify", "info"] {
            let run = vecar(&[command, file]);
            run.fails_with(&format!("{file}: not a CAR file ({what}"));
        }
    }
}

#[test]
fn a_directory_or_a_device_as_an_archive_is_refused_by_name() {
    let dir = tempdir();
    let run = vecar(&["verify", s(dir.path())]);
    run.fails_with("is a directory");
    let run = vecar(&["info", "/dev/zero"]);
    run.fails_with("/dev/zero: is a character device");
}

/// A CAR whose root is `block` (with `codec`), alone.
fn car_of(codec: u64, block: Vec<u8>) -> Vec<u8> {
    let root = cid_of(codec, &block);
    car_bytes(&root, &[(root, block)])
}

#[test]
fn a_car_that_is_not_a_vecar_archive_says_what_its_root_is() {
    let cbor = |value: Value| serde_ipld_dagcbor::to_vec(&value).unwrap();
    let cases = [
        (car_of(0x71, cbor(json!("hello"))), "root is a DAG-CBOR string"),
        (car_of(0x71, cbor(json!([1, 2]))), "root is a DAG-CBOR list"),
        (
            car_of(0x71, cbor(json!({"a": 1}))),
            "root is a DAG-CBOR map without \"format\": \"vecar\"",
        ),
        (
            car_of(0x71, cbor(json!({"format": "other", "version": 1}))),
            "root is a \"other\" manifest",
        ),
        (car_of(0x55, b"raw bytes".to_vec()), "root is a raw block"),
        (car_of(0x70, vec![0x0a, 0x02, 0x08, 0x01]), "root is a dag-pb block"),
    ];
    for (bytes, what) in cases {
        let dir = tempdir();
        let car = dir.path().join("other.car");
        std::fs::write(&car, bytes).unwrap();
        for command in ["verify", "info", "export"] {
            let run = vecar(&[command, s(&car)]);
            run.fails_with(&format!("other.car: not a vecar archive ({what}"));
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        }
    }
    // A CAR whose root is not in it at all.
    let absent: Cid = cid_of(0x71, b"elsewhere");
    let dir = tempdir();
    let car = dir.path().join("partial.car");
    let block = serde_ipld_dagcbor::to_vec(&json!("x")).unwrap();
    std::fs::write(&car, car_bytes(&absent, &[(cid_of(0x71, &block), block)])).unwrap();
    vecar(&["info", s(&car)]).fails_with("partial.car: not a vecar archive (its root block");
}

#[test]
fn an_archive_cut_while_a_query_reads_it_is_named_with_the_offset() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    // The embedding command cuts the archive after vecar opened it and loaded its index, and
    // before it reads the records of the hits.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/bin/fake_embed.py");
    let dims = vecar(&["info", "--json", s(&car)]).ok().json_lines()[0]["dimensions"].clone();
    let cut = format!("truncate -s 200 {} && python3 {} {dims} ok", s(&car), script.display());
    for exact in [false, true] {
        let car = build_fixture(dir.path(), "docs.car", &[]);
        let mut args = vec!["query", s(&car), "--text", "hello", "--embed-cmd", &cut];
        if exact {
            args.push("--exact");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_vecar"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("failed to fill"), "{stderr}");
        assert!(
            stderr.contains("docs.car: byte "),
            "names the file and the offset: {stderr}"
        );
        assert!(stderr.contains("ends early"), "{stderr}");
    }
}
