//! `vecar verify`: check an archive end to end.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use vecar::archive::car::CarFile;
use vecar::ops::verify::verify;
use vecar::output;

/// Arguments of `vecar verify`.
#[derive(clap::Args)]
#[command(after_help = "\
Re-hashes every block, walks the DAG from the root (every link resolves, no orphan), checks that
a CARv2 block index lists every block at its place, and checks the manifest against the records,
vectors and the index header. Walks the index graph: every record a search through it cannot
reach must be in the manifest's list of those (which every search scans), or verify fails with
their count. Exit 0 if sound; 1 with the first problem otherwise.

Example:
  vecar verify docs.car && ipfs dag import docs.car")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
}

/// Runs `vecar verify`.
pub fn run(args: Args) -> Result<ExitCode> {
    let report = verify(Arc::new(CarFile::open(&args.archive)?))?;
    let mut out = output::stdout();
    writeln!(
        out,
        "{}: ok, {}, root {}, {} records, {} blocks, {} bytes",
        args.archive.display(),
        report.kind,
        report.root,
        report.records,
        report.blocks,
        report.bytes
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
