//! `vecar root`: the root CID of each archive.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use vecar::ops::open::root_of;
use vecar::output;

/// Arguments of `vecar root`.
#[derive(clap::Args)]
#[command(after_help = "\
Prints the root CID that each CAR file's header names, one per line, in the order given (the
blocks are not checked: `vecar verify` does that).

Examples:
  vecar root docs.car
  ipfs dag get $(vecar root docs.car)")]
pub struct Args {
    /// The archives; `-` reads standard input.
    #[arg(required = true, value_name = "ARCHIVE")]
    archives: Vec<PathBuf>,
    #[command(flatten)]
    net: super::NetworkArgs,
}

/// Runs `vecar root`.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = output::stdout();
    let network = args.net.get()?;
    let code = super::each_archive(
        &args.archives,
        |path| root_of(path, &network),
        |_, root| {
            writeln!(out, "{root}")?;
            Ok(out.flush()?)
        },
    )?;
    Ok(code)
}
