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
    let dims = archive.manifest.dimensions as usize;
    let rows_per_chunk = archive.manifest.vectors.rows_per_chunk;
    let field = &archive.manifest.fields.vector;
    let mut out = output::stdout();
    let mut vectors = (usize::MAX, Vec::new());
    archive.for_each_record(|row, record| {
        let chunk = (row / rows_per_chunk) as usize;
        if vectors.0 != chunk {
            vectors = (chunk, archive.vector_chunk(chunk)?);
        }
        let at = (row % rows_per_chunk) as usize * dims;
        output::json_line(
            &mut out,
            &WithVector {
                record,
                field,
                vector: &vectors.1[at..at + dims],
            },
        )
    })?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
