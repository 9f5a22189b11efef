//! Bad input: exit 1, a message naming file, line and field, and no output file left behind.

use crate::common::*;

const V: &str = "[0.5, 0.25, 1.0]";

/// Builds `input` and expects failure with `message`; checks no output file appears and an
/// existing one keeps its content.
#[track_caller]
fn expect_error(input: &[u8], message: &str) {
    let dir = tempdir();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, input).unwrap();
    let out = dir.path().join("out.car");
    let run = vecar(&["build", s(&path), "-o", s(&out)]);
    run.fails_with(message);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {:?}", run.stderr);
    assert!(!out.exists(), "no output file after an error");
    std::fs::write(&out, b"old").unwrap();
    assert_eq!(vecar(&["build", s(&path), "-o", s(&out)]).code, 1);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"old",
        "an existing file keeps its content"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

fn line(body: &str) -> String {
    format!("{{\"id\": \"a\", \"vector\": {V}}}\n{body}\n")
}

#[test]
fn invalid_json() {
    expect_error(
        line("{\"id\": \"b\", \"vector\": [1,2,3]").as_bytes(),
        "in.jsonl:2: invalid JSON",
    );
}

#[test]
fn a_line_that_is_not_an_object() {
    expect_error(
        line("[1, 2, 3]").as_bytes(),
        "in.jsonl:2: expected a JSON object, found an array",
    );
}

#[test]
fn missing_or_null_id() {
    expect_error(
        line(&format!("{{\"vector\": {V}}}")).as_bytes(),
        "in.jsonl:2: missing id",
    );
    expect_error(
        line(&format!("{{\"id\": null, \"vector\": {V}}}")).as_bytes(),
        "in.jsonl:2: missing id",
    );
}

#[test]
fn id_of_the_wrong_type() {
    expect_error(
        line(&format!("{{\"id\": 1.5, \"vector\": {V}}}")).as_bytes(),
        "in.jsonl:2: id must be a string or an integer, not a number",
    );
    expect_error(
        line(&format!("{{\"id\": [1], \"vector\": {V}}}")).as_bytes(),
        "in.jsonl:2: id must be a string or an integer, not an array",
    );
}

#[test]
fn missing_or_null_vector() {
    expect_error(line("{\"id\": \"b\"}").as_bytes(), "in.jsonl:2: missing vector");
    expect_error(
        line("{\"id\": \"b\", \"vector\": null}").as_bytes(),
        "in.jsonl:2: missing vector",
    );
}

#[test]
fn vector_of_strings_or_nested_arrays() {
    expect_error(
        line("{\"id\": \"b\", \"vector\": [\"1\", 2, 3]}").as_bytes(),
        "in.jsonl:2: vector[0] must be a number, not a string",
    );
    expect_error(
        line("{\"id\": \"b\", \"vector\": [1, [2], 3]}").as_bytes(),
        "in.jsonl:2: vector[1] must be a number, not an array",
    );
    expect_error(
        line("{\"id\": \"b\", \"vector\": \"1,2,3\"}").as_bytes(),
        "in.jsonl:2: vector must be an array of numbers, not a string",
    );
}

#[test]
fn dimension_mismatch() {
    expect_error(
        line("{\"id\": \"b\", \"vector\": [1, 2]}").as_bytes(),
        "in.jsonl:2: vector has 2 numbers, expected 3",
    );
}

#[test]
fn numbers_out_of_range() {
    expect_error(
        line("{\"id\": \"b\", \"vector\": [1e999, 2, 3]}").as_bytes(),
        "in.jsonl:2: invalid JSON",
    );
    expect_error(
        line("{\"id\": \"b\", \"vector\": [1, 1e39, 3]}").as_bytes(),
        "in.jsonl:2: vector[1] = 1e39 is out of float32 range",
    );
}

#[test]
fn empty_input_and_only_blank_lines() {
    expect_error(b"", "in.jsonl: no records");
    expect_error(b"\n  \n\r\n", "in.jsonl: no records");
}

#[test]
fn duplicate_ids() {
    expect_error(
        line(&format!("{{\"id\": \"a\", \"vector\": {V}}}")).as_bytes(),
        "in.jsonl:2: duplicate id \"a\"",
    );
}

#[test]
fn non_utf8_bytes() {
    let mut input = line("").into_bytes();
    input.extend_from_slice(b"{\"id\": \"\xff\", \"vector\": [1, 2, 3]}\n");
    expect_error(&input, "in.jsonl:3: not valid UTF-8");
}

#[test]
fn field_names_follow_the_flags() {
    let dir = tempdir();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, "{\"key\": 1, \"emb\": [1, 2], \"body\": \"hi\"}\n{\"key\": 2}\n").unwrap();
    let out = dir.path().join("out.car");
    let run = vecar(&[
        "build",
        s(&path),
        "-o",
        s(&out),
        "--id-field",
        "key",
        "--vector-field",
        "emb",
        "--text-field",
        "body",
    ]);
    assert!(run.stderr.contains("in.jsonl:2: missing emb"), "{}", run.stderr);
}

#[test]
fn crlf_and_blank_lines_are_accepted() {
    let dir = tempdir();
    let path = dir.path().join("in.jsonl");
    std::fs::write(
        &path,
        "\r\n{\"id\": 1, \"vector\": [1, 2]}\r\n\r\n{\"id\": 2, \"vector\": [2, 1], \"text\": \"t\"}\r\n",
    )
    .unwrap();
    let out = dir.path().join("out.car");
    vecar(&["build", s(&path), "-o", s(&out)]).ok();
    let exported = vecar(&["export", s(&out)]).ok().json_lines();
    assert_eq!(exported.len(), 2);
    assert_eq!(exported[1]["text"], "t");
}

#[test]
fn a_missing_input_file_is_named() {
    let run = vecar(&["build", "/no/such/input.jsonl", "-o", "/tmp/never.car"]);
    run.fails_with("/no/such/input.jsonl");
}

#[test]
fn a_build_killed_while_writing_leaves_nothing_behind() {
    let dir = tempdir();
    let input = dir.path().join("big.jsonl");
    let line = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    let mut big = String::new();
    for copy in 0..40 {
        big.push_str(&line.replace("\"id\":\"doc-", &format!("\"id\":\"c{copy}-doc-")));
    }
    std::fs::write(&input, big).unwrap();
    let out = dir.path().join("out.car");
    let temp_exists = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    };
    for signal in ["-TERM", "-INT"] {
        // The kill races the end of the write: retry until one lands mid-write; every attempt
        // must leave either the old file or a complete archive, and never a temporary file.
        let mut caught = false;
        for _ in 0..10 {
            std::fs::write(&out, b"old").unwrap();
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vecar"))
                .args(["build", s(&input), "-o", s(&out)])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            while !temp_exists() && child.try_wait().unwrap().is_none() {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            std::process::Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            let code = child.wait().unwrap().code();
            assert!(!temp_exists(), "{signal}: no temporary file is left");
            let content = std::fs::read(&out).unwrap();
            if code == Some(130) && content == b"old" {
                caught = true;
                break;
            }
            assert!(matches!(code, Some(0 | 130)), "{signal}: {code:?}");
            vecar(&["verify", s(&out)]).ok();
        }
        assert!(caught, "{signal}: no kill landed during the write in 10 tries");
    }
}

#[test]
fn a_utf8_byte_order_mark() {
    expect_error(
        format!("\u{feff}{}", line("")).as_bytes(),
        "in.jsonl:1: starts with a UTF-8 byte-order mark",
    );
}

#[test]
fn a_100_mb_line() {
    let mut input = line("").into_bytes();
    input.extend(b"{\"id\": \"b\", \"vector\": [1, 2, 3], \"text\": \"");
    input.extend(std::iter::repeat_n(b'x', 100 << 20));
    input.extend(b"\"}\n");
    expect_error(&input, "in.jsonl:3: line is longer than 32 MiB");
}

#[test]
fn a_record_too_big_for_a_block() {
    let text = "y".repeat(2 << 20);
    expect_error(
        line(&format!("{{\"id\": \"b\", \"vector\": {V}, \"text\": \"{text}\"}}")).as_bytes(),
        "in.jsonl:2: record is 2097",
    );
}

#[test]
fn a_vector_too_long_for_a_block() {
    let long = vec!["0"; 300_000].join(",");
    expect_error(
        format!("{{\"id\": 1, \"vector\": [{long}]}}\n").as_bytes(),
        "in.jsonl:1: vector has 300000 numbers; at most 262144 fit a block",
    );
}
