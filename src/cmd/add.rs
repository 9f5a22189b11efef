//! `vecar add`: upsert JSONL records into an archive, writing a new one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::ProviderArgs;
use vecar::archive::read::Ahead;
use vecar::archive::rows::{OnConflict, Rows, Upserted};
use vecar::embed::LinesWithVectors;
use vecar::input::Lines;
use vecar::ops::build::read_docs;
use vecar::ops::update;

/// Arguments of `vecar add`.
#[derive(clap::Args)]
#[command(after_help = "\
Records with a new id are appended, in input order; a record whose id is already in the base
replaces it (record and vector) at the same position; a record identical to the one in the base
changes nothing. The input uses the base's field names, and its vectors must have the base's
dimensions; a line with a text and no vector is embedded with the model the base records (a local
model's directory from --model or VECAR_MODEL; a command with --embed-cmd). Unchanged chunks
keep their CIDs, so the new archive shares most blocks with the base. The base's index is
extended in place when only new ids are added; when records are replaced an HNSW index is
rebuilt, and a partitioned one keeps its centroids and moves each replaced row to the partition
nearest its new vector (--reindex rebuilds either). The root CID is printed on stdout.

Examples:
  vecar add docs.car new.jsonl -o docs-v2.car
  vecar add docs.car new.jsonl -o docs-v2.car --threads 1    # reproducible bytes
  vecar diff docs.car docs-v2.car")]
pub struct Args {
    /// The base archive (it is not changed).
    base: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// JSONL records to add or replace; `-` reads standard input.
    input: PathBuf,
    /// Where to write the archive.
    #[command(flatten)]
    output: super::Output,
    /// Build a new index over every row instead of extending the base's.
    #[arg(long)]
    reindex: bool,
    /// The provider for lines without a vector [default: the one the base records].
    #[command(flatten)]
    provider: ProviderArgs,
}

/// Runs `vecar add`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    args.output.check(&[&args.input])?;
    let base = args.net.open(&args.base, Ahead::Centroids)?;
    let mut rows = Rows::from_archive(&base)?;
    let fields = &base.manifest.fields;
    let open = || match &base.manifest.embedding {
        Some(info) => args.provider.get().open_for(Some(info), base.name()),
        None => bail!("{} records no embedding model", base.name()),
    };
    let mut lines = LinesWithVectors::lazy(Lines::open(&args.input)?, Box::new(open), &fields.text, &fields.vector);
    let new = read_docs(&mut lines, fields, Some(rows.dimensions))?;
    let base_rows = rows.len();
    let (mut added, mut replaced, mut kept) = (0, Vec::new(), 0);
    for row in new.into_rows() {
        match rows.upsert(row?, OnConflict::Last)? {
            Upserted::Added => added += 1,
            Upserted::Replaced(at) => replaced.push(at),
            Upserted::Kept => kept += 1,
        }
    }
    let summary = format!("{added} added, {} replaced, {kept} unchanged", replaced.len());
    let plan = update::plan_for_upserts(replaced, base_rows, args.reindex);
    super::write_update(&base, &rows, plan, threads, &args.output, &summary)?;
    Ok(ExitCode::SUCCESS)
}
