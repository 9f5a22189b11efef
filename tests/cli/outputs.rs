//! Where output goes: a closed or full standard output or error, `-o` onto a device, a FIFO, a
//! socket or a symbolic link, and an output that is one of the inputs.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// The outcome of a run whose standard streams the test chose.
struct Ended {
    code: i32,
    stderr: String,
}

/// Runs vecar with `args`, stdin from `stdin` (or nothing), stdout to `stdout`, and stderr
/// captured unless `stderr` is given.
fn run_with(args: &[&str], stdin: Option<&Path>, stdout: Stdio, stderr: Option<Stdio>) -> Ended {
    let captured = stderr.is_none();
    let out = Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(args)
        .stdin(stdin.map_or(Stdio::null(), |p| File::open(p).unwrap().into()))
        .stdout(stdout)
        .stderr(stderr.unwrap_or(Stdio::piped()))
        .output()
        .expect("vecar runs");
    Ended {
        code: out.status.code().expect("vecar was not killed by a signal"),
        stderr: if captured {
            String::from_utf8(out.stderr).unwrap()
        } else {
            String::new()
        },
    }
}

/// A pipe whose reading end is already closed: writing to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

fn dev_full() -> Stdio {
    File::options().write(true).open("/dev/full").unwrap().into()
}

/// Every command that writes to standard output, with what it reads on stdin, over archives in
/// `dir`.
fn every_printing_command(dir: &Path) -> Vec<(Vec<String>, Option<PathBuf>)> {
    let car = build_fixture(dir, "a.car", &[]);
    let other = build_fixture(dir, "b.car", &[]);
    let (car, other) = (s(&car).to_string(), s(&other).to_string());
    let docs = s(&fixture("docs.jsonl")).to_string();
    let new = dir.join("new.jsonl");
    let dims = vecar(&["info", "--json", &car]).ok().json_lines()[0]["dimensions"]
        .as_u64()
        .unwrap();
    let new_line = format!(r#"{{"id":"new","vector":{:?}}}"#, vec![0.5; dims as usize]);
    std::fs::write(&new, new_line).unwrap();
    let texts = dir.join("texts.jsonl");
    std::fs::write(&texts, "{\"id\":1,\"text\":\"hello\"}\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/bin/fake_embed.py");
    let fake = format!("python3 {} 4 ok", script.display());
    let out = s(&dir.join("out.car")).to_string();
    let queries = Some(fixture("queries.jsonl"));
    let mut commands: Vec<(Vec<&str>, Option<PathBuf>)> = vec![
        (vec!["verify", &car], None),
        (vec!["info", &car], None),
        (vec!["info", "--json", &car], None),
        (vec!["export", &car], None),
        (vec!["get", &car, "doc-00033"], None),
        (vec!["ls", &car], None),
        (vec!["ls", "--json", &car], None),
        (vec!["diff", &car, &car], None),
        (vec!["diff", "--json", &car, &car], None),
        (vec!["query", &car], queries.clone()),
        (vec!["build", &docs, "-o", &out], None),
        (vec!["build", &docs, "-o", "-"], None),
        (vec!["add", &car, s(&new), "-o", &out], None),
        (vec!["rm", &car, "doc-00033", "-o", &out], None),
        (vec!["merge", &car, &other, "-o", &out, "--on-conflict", "first"], None),
        (vec!["embed", s(&texts), "--embed-cmd", &fake], None),
        (vec!["--help"], None),
        (vec!["query", "--help"], None),
        (vec!["--version"], None),
    ];
    for format in ["jsonl", "json", "tsv", "table"] {
        commands.push((vec!["query", &car, "--format", format], queries.clone()));
    }
    commands
        .into_iter()
        .map(|(args, stdin)| (args.into_iter().map(String::from).collect(), stdin))
        .collect()
}

#[test]
fn a_closed_standard_output_ends_every_command_quietly_with_exit_0() {
    let dir = tempdir();
    for (args, stdin) in every_printing_command(dir.path()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_with(&args, stdin.as_deref(), closed_pipe(), None);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn a_full_standard_output_is_one_line_of_error_for_every_command() {
    let dir = tempdir();
    for (args, stdin) in every_printing_command(dir.path()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_with(&args, stdin.as_deref(), dev_full(), None);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (1, "vecar: writing to standard output: no space left on device\n"),
            "{args:?}"
        );
    }
}

#[test]
fn a_full_or_closed_standard_error_still_gives_the_exit_code() {
    let dir = tempdir();
    let missing = dir.path().join("missing.car");
    let car = build_fixture(dir.path(), "a.car", &[]);
    for stderr in [dev_full as fn() -> Stdio, closed_pipe] {
        let failed = run_with(&["verify", s(&missing)], None, Stdio::null(), Some(stderr()));
        assert_eq!(failed.code, 1);
        let usage = run_with(&["query", s(&car), "-k", "x"], None, Stdio::null(), Some(stderr()));
        assert_eq!(usage.code, 2);
        let out = dir.path().join("out.car");
        let built = run_with(
            &["build", s(&fixture("docs.jsonl")), "-o", s(&out)],
            None,
            Stdio::null(),
            Some(stderr()),
        );
        assert_eq!(built.code, 0);
        // Both full: the first error wins, and nothing panics.
        let both = run_with(&["verify", s(&car)], None, dev_full(), Some(stderr()));
        assert_eq!(both.code, 1);
    }
}

/// A character device like /dev/null, made in `dir` (so no test can harm the real one), or the
/// real /dev/null where this user may not make devices (nobody but root can replace it).
fn null_device(dir: &Path) -> PathBuf {
    let made = dir.join("null");
    let ok = Command::new("mknod")
        .args([s(&made), "c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        made
    } else {
        PathBuf::from("/dev/null")
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

#[test]
fn output_to_a_character_device_writes_into_it_and_leaves_it_a_device() {
    let dir = tempdir();
    let null = null_device(dir.path());
    let docs = fixture("docs.jsonl");
    let run = vecar(&["build", s(&docs), "-o", s(&null)]).ok();
    assert!(run.stdout.starts_with("bafy"), "{}", run.stdout);
    assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device());
    let names: Vec<_> = std::fs::read_dir(null.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".vecar-"))
        .collect();
    assert!(names.is_empty(), "no temporary file left: {names:?}");
}

#[test]
fn output_to_a_fifo_streams_the_archive_through_it() {
    let dir = tempdir();
    let docs = fixture("docs.jsonl");
    let plain = dir.path().join("plain.car");
    vecar(&["build", s(&docs), "-o", s(&plain), "--threads", "1"]).ok();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    vecar(&["build", s(&docs), "-o", s(&fifo), "--threads", "1"]).ok();
    // Checked before waiting for the reader, which waits forever if the FIFO was replaced.
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");
    let streamed = reader.join().unwrap();
    assert!(streamed == std::fs::read(&plain).unwrap(), "the same bytes as a file");
}

#[test]
fn output_to_a_socket_is_refused_and_leaves_it() {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let run = vecar(&["build", s(&fixture("docs.jsonl")), "-o", s(&socket)]);
    run.fails_with("is a socket");
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
}

#[test]
fn output_through_a_symbolic_link_replaces_the_file_it_points_to() {
    let dir = tempdir();
    let target = dir.path().join("real.car");
    std::fs::write(&target, b"old").unwrap();
    std::fs::set_permissions(&target, PermissionsExt::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.car");
    std::os::unix::fs::symlink("real.car", &link).unwrap();
    vecar(&["build", s(&fixture("docs.jsonl")), "-o", s(&link)]).ok();
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "still a link"
    );
    vecar(&["verify", s(&target)]).ok();
    let mode = std::fs::metadata(&target).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "the replaced file keeps its permissions");
}

#[test]
fn output_onto_an_input_is_refused_and_the_input_kept() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "a.car", &[]);
    let input = dir.path().join("in.jsonl");
    std::fs::copy(fixture("docs.jsonl"), &input).unwrap();
    let hard = dir.path().join("hard.jsonl");
    std::fs::hard_link(&input, &hard).unwrap();
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "doc-00033\n").unwrap();
    let before = std::fs::read(&input).unwrap();
    let (car, input, hard, ids) = (s(&car), s(&input), s(&hard), s(&ids));
    for args in [
        vec!["build", input, "-o", input],
        vec!["build", input, "-o", hard],
        vec!["add", car, input, "-o", input],
        vec!["add", car, hard, "-o", input],
        vec!["rm", car, "--ids-from", ids, "-o", ids],
    ] {
        let run = vecar(&args);
        run.fails_with("is also an input");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
    assert!(std::fs::read(input).unwrap() == before, "the input is unchanged");
    assert_eq!(std::fs::read_to_string(ids).unwrap(), "doc-00033\n");
}

#[test]
fn output_onto_the_standard_input_file_is_refused() {
    let dir = tempdir();
    let input = dir.path().join("in.jsonl");
    std::fs::copy(fixture("docs.jsonl"), &input).unwrap();
    let run = run_with(&["build", "-", "-o", s(&input)], Some(&input), Stdio::null(), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("is also an input"), "{}", run.stderr);
    assert!(std::fs::read(&input).unwrap() == std::fs::read(fixture("docs.jsonl")).unwrap());
}

#[test]
fn add_rm_and_merge_may_replace_their_base_archive_in_place() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "a.car", &[]);
    let other = build_fixture(dir.path(), "b.car", &[]);
    vecar(&["rm", s(&car), "doc-00033", "-o", s(&car)]).ok();
    assert_eq!(vecar(&["get", s(&car), "doc-00033"]).code, 1, "removed in place");
    vecar(&["verify", s(&car)]).ok();
    vecar(&["merge", s(&car), s(&other), "-o", s(&car)]).ok();
    vecar(&["get", s(&car), "doc-00033"]).ok();
    vecar(&["verify", s(&car)]).ok();
}

/// A build whose temporary files cannot grow (a file size limit here, with its signal ignored,
/// stands for a full disk: the same failed system call) says what it could not store and leaves
/// no output, where writing the vectors through a map of a file with no room would have died of
/// SIGBUS.
#[test]
fn a_build_without_room_for_its_temporary_files_says_so_and_leaves_no_output() {
    let dir = tempdir();
    let out = dir.path().join("docs.car");
    let script = "trap '' XFSZ; ulimit -f 2048; exec \"$0\" build \"$1\" -o \"$2\"";
    let input = fixture("docs.jsonl");
    let run = Command::new("bash")
        .args(["-c", script, env!("CARGO_BIN_EXE_vecar"), s(&input), s(&out)])
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no room for") && stderr.contains("vectors in a temporary file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out.exists());
}
