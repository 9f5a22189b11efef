//! One module per subcommand: parse the arguments, call the library, print.

use std::path::Path;

use anyhow::Result;
use vecar::archive::build::{assemble, write_car, Assembled};
use vecar::archive::read::Archive;
use vecar::archive::rows::Rows;
use vecar::archive::update;
use vecar::output;

pub mod add;
pub mod build;
pub mod diff;
pub mod embed;
pub mod export;
pub mod get;
pub mod info;
pub mod ls;
pub mod merge;
pub mod query;
pub mod rm;
pub mod verify;

/// Writes `archive` to `output` (`-`: standard output; otherwise atomically, then its root CID
/// goes to stdout and a line saying what it holds, starting with `summary`, to stderr).
pub fn write_archive(archive: &Assembled, output: &Path, summary: &str) -> Result<()> {
    if output.as_os_str() == "-" {
        return write_car(archive, output::stdout());
    }
    output::write_atomically(output, |out| write_car(archive, out))?;
    println!("{}", archive.root);
    eprintln!(
        "vecar: wrote {}: {summary}; {} blocks, {} bytes of blocks",
        output.display(),
        archive.blocks,
        archive.bytes
    );
    Ok(())
}

/// Writes the archive holding `rows`, an update of `base` (see [`update::index_for`]), and says
/// what it holds after `summary`.
pub fn write_update(
    base: &Archive,
    rows: &Rows,
    base_intact: bool,
    reindex: bool,
    threads: usize,
    output: &Path,
    summary: &str,
) -> Result<()> {
    let (index, made) = update::index_for(base, rows, base_intact, reindex, threads)?;
    let archive = assemble(rows, &index, &update::options(base))?;
    let summary = format!("{summary}, {} records, {}", rows.len(), made.describe());
    write_archive(&archive, output, &summary)
}

/// A mistake in the command line found after parsing (a malformed `--filter`, say): exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
