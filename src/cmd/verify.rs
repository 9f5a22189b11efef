//! `vecar verify`: check an archive end to end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use vecar::ops::verify::verify_at;
use vecar::output::{self, grouped, plural};

/// Arguments of `vecar verify`.
#[derive(clap::Args)]
#[command(after_help = "\
Re-hashes every block of each archive, walks the DAG from the root (every link resolves, no orphan), checks that
a CARv2 block index lists every block at its place, and checks the manifest against the records,
vectors and the index header. Walks the index graph: every record a search through it cannot
reach must be in the manifest's list of those (which every search scans), or verify fails with
their count. Prints one line per sound archive and the first problem of each other one; exits 0
only if all are sound.

Examples:
  vecar verify docs.car && ipfs dag import docs.car
  vecar verify *.car")]
pub struct Args {
    /// The archives; `-` reads standard input.
    #[arg(required = true, value_name = "ARCHIVE")]
    archives: Vec<PathBuf>,
    #[command(flatten)]
    net: super::NetworkArgs,
}

/// Runs `vecar verify`.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = output::stdout();
    let network = args.net.get()?;
    let check = |path: &Path| verify_at(path, &network);
    super::each_archive(&args.archives, check, |path, report| {
        let records = plural(report.records, "record");
        writeln!(
            out,
            "{}: ok, {}, root {}, {records}, {}, {} bytes",
            path.display(),
            report.kind,
            report.root,
            plural(report.blocks as u64, "block"),
            grouped(report.bytes)
        )?;
        Ok(out.flush()?)
    })
}
