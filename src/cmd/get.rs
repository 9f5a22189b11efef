//! `vecar get`: the records with the given ids.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use vecar::archive::ids;
use vecar::archive::read::Ahead;
use vecar::output::{self, WithVector};

/// Arguments of `vecar get`.
#[derive(clap::Args)]
#[command(after_help = "\
Prints the records in the order of the ids given, vectors included, like `export`. An id finds
the record whose id has exactly that text: a string id as it is, an integer id in decimal (so
`1` finds the id 1 or \"1\"; an archive never holds both). Exits 1 if any id is missing (after
printing the others).

Example:
  vecar get docs.car doc-00042 doc-00043 | jq .text
  vecar get docs.car --ids-from ids.txt > some.jsonl")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// The ids to look up.
    #[command(flatten)]
    ids: super::Ids,
}

/// Runs `vecar get`.
pub fn run(args: Args) -> Result<ExitCode> {
    let ids = args.ids.read("to look up")?;
    let archive = args.net.open(&args.archive, Ahead::Nothing)?;
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let rows = ids::find(&archive, &wanted)?;
    let found: BTreeSet<u64> = rows.values().map(|(row, _)| *row).collect();
    let vectors = archive.vectors_of(&found)?;
    let mut out = output::stdout();
    let mut missing = 0;
    for id in &ids {
        match rows.get(id) {
            Some((row, record)) => {
                let line = WithVector {
                    record,
                    field: &archive.manifest.fields.vector,
                    vector: &vectors[row],
                };
                output::json_line(&mut out, &line)?;
            }
            None => {
                output::note(format_args!("vecar: {}: no record with id {id}", archive.name()));
                missing += 1;
            }
        }
    }
    out.flush()?;
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
