//! `vecar export`: the records back as JSONL, vectors included, in input order.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use vecar::archive::read::Archive;
use vecar::output::{self, WithVector};

/// Arguments of `vecar export`.
#[derive(clap::Args)]
#[command(after_help = "\
Each line holds the input line's fields: the record's fields in DAG-CBOR key order (shorter keys
first), then the vector, whose float32 values print back bit-exact.

Examples:
  vecar export docs.car > docs.jsonl
  vecar export docs.car | jq -r .id | head")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
}

/// Runs `vecar export`.
pub fn run(args: Args) -> Result<ExitCode> {
    let archive = Archive::open(&args.archive)?;
    let field = &archive.manifest.fields.vector;
    let mut out = output::stdout();
    archive.for_each_row(|_, record, vector| output::json_line(&mut out, &WithVector { record, field, vector }))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
