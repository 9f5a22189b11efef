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
cache file that no longer matches its CID is dropped and fetched again. The cache keeps at most
--cache-max bytes (VECAR_CACHE_MAX, default 2G): after each command that reads a remote archive,
the least recently used (read or written) are removed until it holds 90% of it. Processes sharing a
cache are safe: a block removed under one is fetched again.

Examples:
  vecar cache info
  vecar cache clear
  vecar cache info --cache /tmp/vecar-cache
  VECAR_CACHE_MAX=500M vecar query ipfs://bafy... < queries.jsonl")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The cache directory [default: $XDG_CACHE_HOME/vecar, else ~/.cache/vecar].
    #[arg(long, value_name = "DIR", global = true)]
    cache: Option<PathBuf>,
    #[command(flatten)]
    max: super::CacheMax,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print the cache's directory, how many blocks and bytes it holds, and its limit.
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
    let cache = BlockCache::new(&dir, args.max.bytes);
    let mut out = output::stdout();
    match args.action {
        Action::Info => {
            let usage = cache.usage()?;
            let blocks = plural(usage.blocks, "block");
            let (bytes, max) = (usage.bytes, cache.max());
            writeln!(
                out,
                "{}: {blocks}, {bytes} bytes; keeps at most {max} bytes",
                dir.display()
            )?;
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
