//! `vecar ls`: one line per block.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use vecar::archive::block::codec_name;
use vecar::archive::read::Archive;
use vecar::ops::open::require_file;
use vecar::output;

/// Arguments of `vecar ls`.
#[derive(clap::Args)]
#[command(after_help = "\
Prints, in file order, one line per block: CID, codec, size in bytes and role (manifest, records,
vectors, index, or records-links / vectors-links / index-links for link nodes), tab-separated.
With --json, each line also has the section's byte offset in the file.

Examples:
  vecar ls docs.car | awk -F'\\t' '$4 == \"index\"' | wc -l
  vecar ls docs.car --json | jq -r 'select(.size > 500000) | .cid'")]
pub struct Args {
    /// The archive; `-` reads standard input.
    archive: PathBuf,
    /// One JSON object per line instead of tab-separated columns.
    #[arg(long)]
    json: bool,
}

/// Runs `vecar ls`.
pub fn run(args: Args) -> Result<ExitCode> {
    require_file(&args.archive, "ls")?;
    let (archive, car) = Archive::open_car(&args.archive)?;
    let mut out = output::stdout();
    for (cid, location, role) in archive.roles(&car)? {
        let (codec, size) = (codec_name(cid.codec()), location.len);
        if args.json {
            let line = json!({"cid": cid.to_string(), "codec": codec, "size": size, "role": role.name(), "offset": location.section});
            output::json_line(&mut out, &line)?;
        } else {
            use std::io::Write;
            writeln!(out, "{cid}\t{codec}\t{size}\t{}", role.name())?;
        }
    }
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
