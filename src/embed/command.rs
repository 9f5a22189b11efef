//! The external-command provider: `sh -c CMD` reads `{"text": ...}` lines on stdin and answers
//! one JSON array of numbers per line on stdout. One process runs per batch of texts, so both
//! commands that answer line by line and commands that read everything first work.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{Embedder, EmbeddingInfo, TextError};
use crate::input::parse_vector;

/// An external command that embeds texts.
pub struct Command {
    line: String,
    dimensions: Option<u64>,
}

impl Command {
    /// The command `line`, run by `sh -c`.
    pub fn new(line: &str) -> Result<Command> {
        if line.trim().is_empty() {
            bail!("--embed-cmd is empty");
        }
        Ok(Command {
            line: line.to_string(),
            dimensions: None,
        })
    }
}

impl Embedder for Command {
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let cmd = &self.line;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{cmd}`"))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let answers = std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> std::io::Result<()> {
                let mut stdin = std::io::BufWriter::new(&mut stdin);
                for text in texts {
                    writeln!(stdin, "{}", json!({ "text": text }))?;
                }
                stdin.flush()
            });
            let answers = read_answers(BufReader::new(stdout), texts.len(), cmd);
            // A command that stops reading early closes the pipe: its answers tell what went wrong.
            let _ = writer.join();
            answers
        });
        let status = child.wait().with_context(|| format!("waiting for `{cmd}`"))?;
        // A bad answer explains more than the exit status it may have caused (a closed pipe).
        let answers = answers?;
        if !status.success() {
            bail!("`{cmd}` failed ({status})");
        }
        if answers.len() < texts.len() {
            return Err(TextError {
                index: answers.len(),
                message: format!(
                    "`{cmd}` gave {} answers for {} texts: none for this one",
                    answers.len(),
                    texts.len()
                ),
            }
            .into());
        }
        self.dimensions = answers.first().map(|v| v.len() as u64);
        Ok(answers)
    }

    fn info(&self) -> EmbeddingInfo {
        EmbeddingInfo {
            provider: "command".into(),
            model: self.line.clone(),
            dimensions: self.dimensions,
            weights: None,
        }
    }
}

/// Reads up to `max` answer lines, each a JSON array of numbers.
fn read_answers(out: impl BufRead, max: usize, cmd: &str) -> Result<Vec<Vec<f32>>> {
    let mut answers = Vec::new();
    for line in out.lines() {
        let line = line.with_context(|| format!("reading the output of `{cmd}`"))?;
        if line.trim().is_empty() {
            continue;
        }
        let index = answers.len();
        if index == max {
            bail!("`{cmd}` gave more answers than the {max} texts it was sent");
        }
        let at = |message: String| TextError {
            index,
            message: format!("answer {} of `{cmd}`: {message}", index + 1),
        };
        let value: Value = serde_json::from_str(&line).map_err(|e| at(format!("invalid JSON: {e}")))?;
        answers.push(parse_vector(&value, "the answer").map_err(at)?);
    }
    Ok(answers)
}
