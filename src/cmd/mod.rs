//! One module per subcommand: parse the arguments, call the library, print.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use vecar::archive::build::{assemble, write_car, Assembled, CarVersion};
use vecar::archive::read::{Ahead, Archive};
use vecar::archive::rows::Rows;
use vecar::embed::Provider;
use vecar::input::Lines;
use vecar::ops::build::IndexChoice;
use vecar::ops::open::{default_cache_dir, open_archive, Network};
use vecar::ops::update::{self, IndexPlan};
use vecar::output;
use vecar::progress;

pub mod add;
pub mod build;
pub mod cache;
pub mod diff;
pub mod embed;
pub mod export;
pub mod get;
pub mod import;
pub mod info;
pub mod ls;
pub mod merge;
pub mod printer;
pub mod pull;
pub mod push;
pub mod query;
pub mod rm;
pub mod root;
pub mod shell;
pub mod stores;
pub mod verify;

/// Where and how a command writes an archive.
#[derive(clap::Args)]
pub struct Output {
    /// The CAR file to write: a file is replaced only when the new one is complete, a FIFO or a
    /// device is written directly; `-` writes to standard output. It may not be one of the
    /// command's input files (add, rm and merge may replace their base archive).
    #[arg(short, long)]
    output: PathBuf,
    /// Write a plain CARv1, without the CARv2 block index: for tools that read only CARv1. The
    /// blocks and root CID are the same; only opening a large archive is slower.
    #[arg(long)]
    car_v1: bool,
}

impl Output {
    /// Refuses an output that is the same file as one of `inputs` (see
    /// [`output::check_not_an_input`]); called before any work.
    pub fn check(&self, inputs: &[&Path]) -> Result<()> {
        match self.output.as_os_str() == "-" {
            true => Ok(()),
            false => output::check_not_an_input(&self.output, inputs),
        }
    }
}

/// Writes `archive` as `output` asks: to `-`, standard output, with the root CID on stderr;
/// otherwise atomically, with the root CID on stdout. Then a line saying what it holds, starting
/// with `summary`, goes to stderr. With `--quiet`, nothing but the archive is written.
pub fn write_archive(archive: &Assembled, output: &Output, summary: &str) -> Result<()> {
    let version = if output.car_v1 { CarVersion::V1 } else { CarVersion::V2 };
    let path = &output.output;
    let to_stdout = path.as_os_str() == "-";
    if to_stdout {
        write_car(archive, output::stdout(), version)?;
        progress::say(&format!("root {}", archive.root));
    } else {
        output::write_file(path, |out| write_car(archive, out, version))?;
        if !progress::is_quiet() {
            let mut out = output::stdout();
            writeln!(out, "{}", archive.root)?;
            out.flush()?;
        }
    }
    progress::say(&format!(
        "wrote {}: {summary}; {} blocks, {} bytes of blocks",
        output::name_of(path),
        output::grouped(archive.blocks as u64),
        output::grouped(archive.bytes)
    ));
    Ok(())
}

/// Runs `open` on each archive in turn and hands what it gives to `print`. An archive that
/// cannot be opened is reported on stderr and the others still run; then the exit code is 1.
/// An error from `print` (writing stdout) stops at once.
pub fn each_archive<T>(
    paths: &[PathBuf],
    open: impl Fn(&Path) -> Result<T>,
    mut print: impl FnMut(&Path, T) -> Result<()>,
) -> Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for path in paths {
        match open(path) {
            Ok(opened) => print(path, opened)?,
            Err(e) => {
                output::note(format_args!("vecar: {e:#}"));
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

/// The help heading of [`NetworkArgs`], set on each of its flags: a `next_help_heading` on the
/// struct would also take in the flags of the command that come after them.
const REMOTE: &str = "Remote archives (ipfs://CID, a bare CID, http(s)://URL)";

/// Where archives that are not files are read from: `ipfs://CID` or a bare CID (trustless
/// gateways, an IPFS node), `http(s)://` URLs of a CARv2 (range requests).
#[derive(clap::Args, Clone, Debug)]
pub struct NetworkArgs {
    /// A trustless HTTP gateway's base URL (GET /ipfs/CID?format=raw); may be given several
    /// times (or in VECAR_GATEWAY, comma-separated), tried in order.
    #[arg(long = "gateway", value_name = "URL", env = "VECAR_GATEWAY", value_delimiter = ',', help_heading = REMOTE)]
    gateways: Vec<String>,
    /// An IPFS node's RPC API (block/get), a URL or a multiaddr, tried after the gateways.
    /// Without a gateway or an API: the local node's, as `vecar push` finds it.
    #[arg(long, value_name = "URL", help_heading = REMOTE)]
    api: Option<String>,
    /// Keep fetched blocks here, so they are never fetched twice [default:
    /// $XDG_CACHE_HOME/vecar, else ~/.cache/vecar].
    #[arg(long, value_name = "DIR", help_heading = REMOTE)]
    cache: Option<PathBuf>,
    /// Keep no fetched block.
    #[arg(long, conflicts_with = "cache", help_heading = REMOTE)]
    no_cache: bool,
    #[command(flatten)]
    cache_max: CacheMax,
    /// Blocks fetched at once: a cold query on a 1M-row partitioned archive asks for ~40 at a
    /// time, each a request, so fewer than that adds round trips.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = REMOTE)]
    fetch_jobs: u16,
    /// Seconds allowed for each request (connecting: at most 10).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = seconds, help_heading = REMOTE)]
    timeout: f64,
}

/// The block cache's limit.
#[derive(clap::Args, Clone, Debug)]
pub struct CacheMax {
    /// The most the block cache keeps, in bytes or with K, M, G or T (powers of 1024): after a
    /// command that read a remote archive, the least recently used go until it holds 90% of it.
    #[arg(long = "cache-max", value_name = "SIZE", env = "VECAR_CACHE_MAX", default_value = "2G", value_parser = size, global = true, help_heading = REMOTE)]
    pub bytes: u64,
}

/// A size: a number of bytes, or a number followed by K, M, G or T (powers of 1024; a trailing
/// `B` or `iB` is allowed), such as `500M` or `1.5G`.
fn size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let number = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, unit) = match number.char_indices().last() {
        Some((i, c @ ('K' | 'M' | 'G' | 'T'))) => (&number[..i], 1u64 << (10 * (1 + "KMGT".find(c).expect("a unit")))),
        _ => (number, 1),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n >= 0.0 && n * (unit as f64) < u64::MAX as f64 => Ok((n * unit as f64) as u64),
        _ => Err("expected a size such as 500M, 2G or 1048576".into()),
    }
}

/// A positive, finite number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err("expected a number of seconds above 0 and at most 86400".into()),
    }
}

impl NetworkArgs {
    /// The settings the flags give.
    pub fn get(&self) -> Result<Network> {
        let cache = match (&self.cache, self.no_cache) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => Some(default_cache_dir()?),
        };
        Ok(Network {
            gateways: self.gateways.iter().filter(|g| !g.trim().is_empty()).cloned().collect(),
            api: self.api.clone(),
            cache,
            cache_max: self.cache_max.bytes,
            jobs: self.fetch_jobs.into(),
            timeout: std::time::Duration::from_secs_f64(self.timeout),
        })
    }

    /// Opens the archive at `arg` wherever it is, asking for what `ahead` says with its link
    /// nodes.
    pub fn open(&self, arg: &Path, ahead: Ahead) -> Result<Archive> {
        open_archive(arg, &self.get()?, ahead)
    }
}

/// Record ids given on the command line and, with `--ids-from`, in a file.
#[derive(clap::Args)]
pub struct Ids {
    /// Record ids (a string id, or an integer id's digits).
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// Also read ids from this file, one per line, taken exactly (only the line ending is
    /// removed; empty lines are skipped); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    ids_from: Option<PathBuf>,
}

impl Ids {
    /// The file the ids are read from, if any (an output must not overwrite it).
    pub fn file(&self) -> Option<&Path> {
        self.ids_from.as_deref()
    }

    /// The ids, those on the command line first; a usage error when there are none, saying
    /// what they are `for` ("to remove").
    pub fn read(self, purpose: &str) -> Result<Vec<String>> {
        let mut ids = self.ids;
        if let Some(path) = &self.ids_from {
            let mut lines = Lines::open(path)?;
            while let Some((_, line)) = lines.next_raw()? {
                if !line.is_empty() {
                    ids.push(line);
                }
            }
        }
        if ids.is_empty() {
            return Err(UsageError(format!("give the ids {purpose}, or --ids-from FILE")).into());
        }
        Ok(ids)
    }
}

/// Writes the archive holding `rows`, an update of `base` (see [`update::index_for`]), and says
/// what it holds after `summary`. Where a default build of `rows` would make HNSW on one thread
/// (below `AUTO_PARTITIONED_FROM` records), an HNSW update is made on one thread too, so a default
/// `add`, `rm` or `merge` also gives the same root at any `--threads`.
pub fn write_update(
    base: &Archive,
    rows: &Rows,
    plan: IndexPlan,
    threads: usize,
    output: &Output,
    summary: &str,
) -> Result<()> {
    let threads = match IndexChoice::auto(rows.len()) {
        IndexChoice::Hnsw { threads: one } => one,
        IndexChoice::Partitioned { .. } => threads,
    };
    let (index, made) = update::index_for(base, rows, plan, threads)?;
    let archive = assemble(rows, &index, &update::options(base))?;
    let summary = format!(
        "{summary}, {}, {}",
        output::plural(rows.len() as u64, "record"),
        made.describe()
    );
    write_archive(&archive, output, &summary)
}

/// The provider flags shared by `embed`, `build` and `query`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ProviderArgs {
    /// A local sentence-transformers model directory (`query` and `add` also read VECAR_MODEL); with
    /// --endpoint, the model name to ask for.
    #[arg(long, value_name = "DIR|NAME")]
    model: Option<String>,
    /// An OpenAI-compatible embeddings endpoint (`http://host:port/v1` or the full
    /// `.../v1/embeddings` URL). The API key, if any, is read from VECAR_API_KEY.
    #[arg(long, value_name = "URL", conflicts_with = "embed_cmd")]
    endpoint: Option<String>,
    /// A command (run by `sh -c`) that reads `{"text": ...}` lines on stdin and writes one JSON
    /// array of numbers per line on stdout.
    #[arg(long, value_name = "CMD", conflicts_with = "model")]
    embed_cmd: Option<String>,
}

impl ProviderArgs {
    /// The provider the flags name.
    pub fn get(&self) -> Provider {
        Provider {
            model: self.model.clone(),
            endpoint: self.endpoint.clone(),
            embed_cmd: self.embed_cmd.clone(),
        }
    }
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
