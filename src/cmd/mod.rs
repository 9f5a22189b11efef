//! One module per subcommand: parse the arguments, call the library, print.

use std::path::Path;

use anyhow::Result;
use vecar::archive::build::{write_car, Assembled};
use vecar::output;

pub mod add;
pub mod build;
pub mod diff;
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
    let bytes: usize = archive.blocks.iter().map(|b| b.data.len()).sum();
    eprintln!(
        "vecar: wrote {}: {summary}; {} blocks, {bytes} bytes of blocks",
        output.display(),
        archive.blocks.len()
    );
    Ok(())
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
