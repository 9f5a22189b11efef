//! `vecar ls`: one line per block.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use vecar::archive::block::codec_name;
use vecar::archive::read::Ahead;
use vecar::ops::open::open;
use vecar::output;

/// Arguments of `vecar ls`.
#[derive(clap::Args)]
#[command(after_help = "\
Prints, in file order, one line per block: CID, codec, size in bytes and role (manifest, records,
vectors, index, and a partitioned index's row-lists and partitions (its codes); records-links /
vectors-links / index-links / row-lists-links / partitions-links for link nodes; or
unreferenced), tab-separated. With --json, each line also has the `offset` of the block's section in the file.

A remote archive (ipfs://CID, a bare CID, the http(s) URL of a CARv2) lists the blocks its
manifest reaches, in the order `vecar build` writes them (its file's order), and its `offset` is
null. Listing it fetches and verifies the manifest, the link nodes and the records chunks, to
measure them; a vectors or index chunk's size is the one its link fixes, so it is not fetched.

Examples:
  vecar ls docs.car | awk -F'\\t' '$4 == \"index\"' | wc -l
  vecar ls docs.car --json | jq -r 'select(.size > 500000) | .cid'
  vecar ls ipfs://bafy... --gateway https://ipfs.io | cut -f4 | sort | uniq -c")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// One JSON object per line instead of tab-separated columns.
    #[arg(long)]
    json: bool,
}

/// Runs `vecar ls`.
pub fn run(args: Args) -> Result<ExitCode> {
    let opened = open(&args.archive, &args.net.get()?, Ahead::Nothing)?;
    let mut out = output::stdout();
    for block in opened.listing()? {
        let (cid, codec, size, role) = (block.cid, codec_name(block.cid.codec()), block.size, block.role.name());
        if args.json {
            let line =
                json!({"cid": cid.to_string(), "codec": codec, "size": size, "role": role, "offset": block.offset});
            output::json_line(&mut out, &line)?;
        } else {
            writeln!(out, "{cid}\t{codec}\t{size}\t{role}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
