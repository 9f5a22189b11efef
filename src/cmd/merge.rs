//! `vecar merge`: several archives into one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use vecar::archive::read::Ahead;
use vecar::archive::rows::{read_archive, OnConflict, Rows, Upserted};
use vecar::ops::search::check_compatible;
use vecar::ops::update;

/// Arguments of `vecar merge`.
#[derive(clap::Args)]
#[command(after_help = "\
The first archive's records come first, in order, then each other archive's records with new ids,
in order. An id present in several archives with identical content is kept once; with different
content, --on-conflict decides: `error` stops, `first` keeps the earlier record, `last` puts the
later one at the earlier one's position (so `merge a.car b.car --on-conflict last` holds what
`add a.car b.jsonl` gives). The archives must have the same dimensions, metric and field names;
the new archive takes the first one's index settings, and extends its index in place unless one
of its records was replaced (then an HNSW index is rebuilt; a partitioned one keeps its centroids
and moves the replaced rows, as `add` does). The root CID is printed on stdout.

Examples:
  vecar merge part-1.car part-2.car part-3.car -o all.car
  vecar merge old.car fixes.car --on-conflict last -o new.car")]
pub struct Args {
    /// The archives, at least two.
    #[arg(required = true, num_args = 2.., value_name = "ARCHIVE")]
    archives: Vec<PathBuf>,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// Where to write the archive.
    #[command(flatten)]
    output: super::Output,
    /// What to do with an id present in several archives with different content.
    #[arg(long, value_enum, default_value_t = OnConflictArg::Error)]
    on_conflict: OnConflictArg,
    /// Build a new index over every row instead of extending the first archive's.
    #[arg(long)]
    reindex: bool,
}

/// `--on-conflict`: the choices of [`OnConflict`].
#[derive(Clone, Copy, clap::ValueEnum)]
enum OnConflictArg {
    /// Stop with an error naming the id.
    Error,
    /// Keep the row seen first.
    First,
    /// Keep the row seen last, at the first one's position.
    Last,
}

impl From<OnConflictArg> for OnConflict {
    fn from(arg: OnConflictArg) -> OnConflict {
        match arg {
            OnConflictArg::Error => OnConflict::Error,
            OnConflictArg::First => OnConflict::First,
            OnConflictArg::Last => OnConflict::Last,
        }
    }
}

/// Runs `vecar merge`.
pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    let archives = args
        .archives
        .iter()
        .map(|p| args.net.open(p, Ahead::Centroids))
        .collect::<Result<Vec<_>>>()?;
    check_compatible(&archives, "merged")?;
    let first = &archives[0];
    for other in &archives[1..] {
        if other.manifest.fields != first.manifest.fields {
            bail!(
                "{} names its fields {:?}, but {} names them {:?}: they cannot be merged",
                other.name(),
                other.manifest.fields,
                first.name(),
                first.manifest.fields
            );
        }
    }
    let mut rows = Rows::from_archive(first)?;
    let base_rows = rows.len();
    let mut replaced = Vec::new();
    for other in &archives[1..] {
        read_archive(other, |row| {
            let upserted = rows
                .upsert(row, args.on_conflict.into())
                .with_context(|| other.name().to_string())?;
            if let Upserted::Replaced(at) = upserted {
                replaced.push(at);
            }
            Ok(())
        })?;
    }
    let summary = format!("{} archives merged", archives.len());
    let plan = update::plan_for_upserts(replaced, base_rows, args.reindex);
    super::write_update(first, &rows, plan, threads, &args.output, &summary)?;
    Ok(ExitCode::SUCCESS)
}
