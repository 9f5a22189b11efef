//! `vecar push`: import an archive into an IPFS node and print its root CID.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use vecar::ops::remote::api::Api;
use vecar::ops::remote::push::push;
use vecar::output;

/// Arguments of `vecar push`.
#[derive(clap::Args)]
#[command(after_help = "\
Sends the archive to the node's RPC API (POST /api/v0/dag/import, streamed) and checks the node's
report: it must name the archive's root, pinned without error (unpinned: the node must hold it),
and have read every block. Then anyone can fetch the archive by its root CID.

The API is --api, else the multiaddr in $IPFS_PATH/api (default ~/.ipfs/api), which a running
Kubo daemon writes, else http://127.0.0.1:5001.

Examples:
  vecar push docs.car
  vecar push docs.car --api http://127.0.0.1:5001 --no-pin
  vecar pull \"$(vecar push docs.car)\" -o copy.car")]
pub struct Args {
    /// The archive file.
    archive: PathBuf,
    /// The node's RPC API: a URL (http://127.0.0.1:5001) or a multiaddr (/ip4/127.0.0.1/tcp/5001).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// Do not pin the root (the node may then garbage-collect the archive).
    #[arg(long)]
    no_pin: bool,
}

/// Runs `vecar push`.
pub fn run(args: Args) -> Result<ExitCode> {
    let api = Api::locate(args.api.as_deref())?;
    let root = push(&api, &args.archive, !args.no_pin)?;
    let mut out = output::stdout();
    writeln!(out, "{root}")?;
    out.flush()?;
    let pinned = if args.no_pin { "not pinned" } else { "pinned" };
    output::note(format_args!(
        "vecar: pushed {} to {} ({pinned})",
        args.archive.display(),
        api.url()
    ));
    Ok(ExitCode::SUCCESS)
}
