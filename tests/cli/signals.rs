//! Ctrl-C, SIGTERM and SIGHUP at any moment: the work stops, no temporary or partial file is
//! left, and vecar exits 130.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vecar starts")
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {signal}");
}

/// Waits for `child` and asserts it exited 130 (not killed by the signal's default action).
#[track_caller]
fn assert_interrupted(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{what}: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The names of the files in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// `n` random records of `dims` dimensions, written to `path`.
fn big_input(path: &Path, n: usize, dims: usize) {
    let mut state = 7;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let vector: Vec<String> = (0..dims)
            .map(|_| format!("{:.4}", (xorshift(&mut state) % 20_000) as f64 / 10_000.0 - 1.0))
            .collect();
        writeln!(out, r#"{{"id":{i},"vector":[{}]}}"#, vector.join(",")).unwrap();
    }
    out.flush().unwrap();
}

/// Polls `dir` until a file whose name starts with `prefix` appears, for at most 60 seconds.
fn wait_for_file(dir: &Path, prefix: &str, child: &mut Child) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some(name) = files_in(dir).into_iter().find(|n| n.starts_with(prefix)) {
            return dir.join(name);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "vecar ended before writing {prefix}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no {prefix} file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_signal_while_reading_input_exits_130_and_writes_nothing() {
    let dir = tempdir();
    let out = dir.path().join("out.car");
    for signal in ["INT", "TERM", "HUP"] {
        let mut child = spawn(&["build", "-", "-o", s(&out)]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"{\"id\":1,\"vector\":[1,2]}\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        send(&child, signal);
        assert_interrupted(child, signal);
        drop(stdin);
        assert!(files_in(dir.path()).is_empty(), "{signal}: {:?}", files_in(dir.path()));
    }
}

#[test]
fn a_signal_while_query_waits_for_queries_exits_130() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let mut child = spawn(&["query", s(&car)]);
    let stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    send(&child, "INT");
    assert_interrupted(child, "query");
    drop(stdin);
}

#[test]
fn a_signal_while_building_or_writing_a_big_archive_exits_130_and_leaves_no_file() {
    let dir = tempdir();
    let input = dir.path().join("big.jsonl");
    big_input(&input, 20_000, 256);
    let work = dir.path().join("out");
    std::fs::create_dir(&work).unwrap();
    let out = work.join("big.car");
    let args = [
        "build",
        s(&input),
        "-o",
        s(&out),
        "--index",
        "hnsw",
        "--dtype",
        "f32",
        "--connectivity",
        "4",
        "--expansion-add",
        "8",
    ];
    // 0.3 s in: reading the input (50 MB of JSON) or building the index, the output not yet
    // begun. (At 1 s, an idle machine had sometimes finished the whole build.)
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(300));
    send(&child, "INT");
    assert_interrupted(child, "building");
    assert!(files_in(&work).is_empty(), "{:?}", files_in(&work));
    // While the archive is written: as soon as its temporary file appears.
    for signal in ["INT", "TERM"] {
        let mut child = spawn(&args);
        wait_for_file(&work, ".vecar-", &mut child);
        send(&child, signal);
        assert_interrupted(child, "writing");
        assert!(files_in(&work).is_empty(), "{signal}: {:?}", files_in(&work));
    }
}
