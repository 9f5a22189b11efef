//! Answers as they come: `query` answers each line as soon as it is there, while its input is
//! still open, and a bad line fails after the answers before it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use crate::common::*;

/// vecar running with its stdin and stdout on pipes, talked to line by line.
struct Session {
    child: Child,
    input: ChildStdin,
    answers: Receiver<String>,
}

impl Session {
    fn start(args: &[&str]) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vecar"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vecar starts");
        let (send, answers) = channel();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            for line in stdout.lines() {
                if send.send(line.expect("a line of stdout")).is_err() {
                    break;
                }
            }
        });
        let input = child.stdin.take().expect("stdin");
        Session { child, input, answers }
    }

    /// Writes one line, leaving the input open.
    fn send(&mut self, line: &str) {
        writeln!(self.input, "{line}").expect("vecar reads");
        self.input.flush().unwrap();
    }

    /// The next line vecar prints, which must come while its input is still open.
    #[track_caller]
    fn answer(&self) -> serde_json::Value {
        let line = self
            .answers
            .recv_timeout(Duration::from_secs(30))
            .expect("an answer while the input is still open");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Closes the input: the exit code, the lines printed after those taken, and stderr.
    fn end(mut self) -> (i32, Vec<String>, String) {
        drop(self.input);
        let code = self.child.wait().expect("vecar runs").code().expect("an exit code");
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (code, self.answers.iter().collect(), stderr)
    }
}

/// The fixture's record `n`.
fn doc(n: usize) -> serde_json::Value {
    let docs = std::fs::read_to_string(fixture("docs.jsonl")).unwrap();
    serde_json::from_str(docs.lines().nth(n).unwrap()).unwrap()
}

/// A query line (id `qN`) for the fixture's record `n`, by its vector.
fn query_for(n: usize) -> String {
    serde_json::json!({"id": format!("q{n}"), "vector": doc(n)["vector"]}).to_string()
}

#[test]
fn each_answer_comes_while_the_input_is_still_open() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "a.car", &[]);
    let mut session = Session::start(&["query", s(&car), "-k", "1"]);
    for n in [7, 42, 7] {
        session.send(&query_for(n));
        let hit = session.answer();
        assert_eq!(hit["query"], format!("q{n}"));
        assert_eq!(hit["id"], doc(n)["id"], "{hit}");
    }
    session.send(&query_for(3));
    session.send(&query_for(4));
    let (code, rest, stderr) = session.end();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest[0].contains("\"q3\"") && rest[1].contains("\"q4\""), "{rest:?}");
}

#[test]
fn a_bad_line_fails_after_the_answers_before_it_as_they_came() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "a.car", &[]);
    let mut session = Session::start(&["query", s(&car), "-k", "2"]);
    session.send(&query_for(1));
    assert_eq!(session.answer()["rank"], 1);
    assert_eq!(session.answer()["rank"], 2);
    session.send("{\"vector\": [1, 2]}");
    let (code, rest, stderr) = session.end();
    assert_eq!((code, rest.len()), (1, 0), "{stderr}");
    assert!(
        stderr.contains("<stdin>:2: vector has 2 numbers, expected 384"),
        "{stderr}"
    );

    // A text the archive has no model for fails at its line, after the answers before it.
    let lines = format!(
        "{}\n{}\n{{\"text\": \"a disk\"}}\n{}\n",
        query_for(1),
        query_for(2),
        query_for(3)
    );
    let run = vecar_with_stdin(&["query", s(&car), "-k", "1"], lines.as_bytes());
    run.fails_with("<stdin>:3: no vector to take, and its text cannot be embedded");
    assert_eq!(run.json_lines().len(), 2, "{}", run.stdout);
}
