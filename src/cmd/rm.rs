//! `vecar rm`: remove records by id, writing a new archive.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use vecar::archive::read::Ahead;
use vecar::archive::rows::Rows;
use vecar::ops::update::IndexPlan;

/// Arguments of `vecar rm`.
#[derive(clap::Args)]
#[command(after_help = "\
The removed records' text, metadata and vectors are in no block of the new archive; the other
records keep their order, and chunks without a removed record keep their CIDs. An id finds the
record whose id has exactly that text, as in `get`. --ids-from takes each line exactly as an id,
only its line ending (\\n or \\r\\n) removed, spaces kept; empty lines are skipped. An HNSW
index is rebuilt over the remaining rows; a partitioned one keeps its centroids, the removed rows
leave their partitions, partitions they left get new blocks, and partitions whose rows are
renumbered only new (small) row lists.
The root CID is printed on stdout.

Examples:
  vecar rm docs.car doc-00017 doc-00042 -o docs-v2.car
  jq -r 'select(.source == \"spam\") | .id' docs.jsonl | vecar rm docs.car --ids-from - -o clean.car")]
pub struct Args {
    /// The base archive (it is not changed).
    base: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// The ids of the records to remove.
    #[command(flatten)]
    ids: super::Ids,
    /// Where to write the archive.
    #[command(flatten)]
    output: super::Output,
    /// Skip ids that are not in the archive instead of stopping.
    #[arg(long)]
    ignore_missing: bool,
}

/// Runs `vecar rm`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    if let Some(path) = args.ids.file() {
        args.output.check(&[path])?;
    }
    let typed = args.ids.read("to remove")?;
    let base = args.net.open(&args.base, Ahead::Centroids)?;
    let mut rows = Rows::from_archive(&base)?;
    let (mut keys, mut missing) = (HashSet::new(), Vec::new());
    for id in &typed {
        match rows.key_of(id) {
            Some(key) => keys.insert(key),
            None => {
                missing.push(id.as_str());
                false
            }
        };
    }
    if !missing.is_empty() && !args.ignore_missing {
        let shown = missing.iter().take(5).copied().collect::<Vec<_>>().join(", ");
        bail!(
            "{}: {} given {} not in the archive: {shown}{} (--ignore-missing skips them)",
            base.name(),
            vecar::output::plural(missing.len() as u64, "id"),
            if missing.len() == 1 { "is" } else { "are" },
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    let removed = rows.remove(&keys);
    let summary = format!("{} removed", removed.len());
    super::write_update(
        &base,
        &rows,
        IndexPlan::Remove(removed),
        threads,
        &args.output,
        &summary,
    )?;
    Ok(ExitCode::SUCCESS)
}
