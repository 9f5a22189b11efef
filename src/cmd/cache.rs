//! `vecar cache`: what the block cache of remote archives holds, and emptying it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use vecar::archive::cache::BlockCache;
use vecar::ops::open::default_cache_dir;
use vecar::output::{self, plural};

/// Arguments of `vecar cache`.
#[derive(clap::Args)]
#[command(after_help = "\
Blocks of remote archives (ipfs://CID, http(s)://URL) are kept by CID after they are fetched and
verified, so no block is fetched twice. A cached block never goes stale (its CID is its hash); a
cache file that no longer matches its CID is dropped and fetched again.

Examples:
  vecar cache info
  vecar cache clear
  vecar cache info --cache /tmp/vecar-cache")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The cache directory [default: $XDG_CACHE_HOME/vecar, else ~/.cache/vecar].
    #[arg(long, value_name = "DIR", global = true)]
    cache: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print the cache's directory, and how many blocks and bytes it holds.
    Info,
    /// Remove every cached block.
    Clear,
}

/// Runs `vecar cache`.
pub fn run(args: Args) -> Result<ExitCode> {
    let dir = match args.cache {
        Some(dir) => dir,
        None => default_cache_dir()?,
    };
    let cache = BlockCache::new(&dir);
    let mut out = output::stdout();
    match args.action {
        Action::Info => {
            let usage = cache.usage()?;
            let blocks = plural(usage.blocks, "block");
            writeln!(out, "{}: {blocks}, {} bytes", dir.display(), usage.bytes)?;
        }
        Action::Clear => {
            let usage = cache.clear()?;
            let blocks = plural(usage.blocks, "block");
            writeln!(out, "{}: removed {blocks}, {} bytes", dir.display(), usage.bytes)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
