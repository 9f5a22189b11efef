//! vecar: offline, content-addressed vector archives. Build an HNSW index and the records into
//! one CAR file, then query, verify and export it in place.

mod cmd;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use vecar::{output, progress};

const EXAMPLES: &str = "\
Examples:
  vecar build docs.jsonl -o docs.car          # index + chunk + write the CAR, print its root CID
  vecar query docs.car < queries.jsonl        # top-k hits as JSONL, straight from the CAR
  vecar query docs.car -k 3 --vector '[0.1, 0.2, ...]'
  vecar build notes.jsonl --model all-MiniLM-L6-v2/ -o notes.car   # texts in: embed them
  vecar query notes.car --text 'how do I mount a disk' --model all-MiniLM-L6-v2/
  vecar query docs.car --filter 'source = fortune and year >= 2020' --format table < q.jsonl
  vecar query a.car b.car --like doc-42 --fields archive,id,score
  vecar verify docs.car && vecar push docs.car    # publish on your IPFS node; prints the root CID
  vecar export docs.car | head -1             # the records back, vectors included
  vecar add docs.car new.jsonl -o docs-v2.car # upsert by id; unchanged blocks keep their CIDs
  vecar diff docs.car docs-v2.car             # ids added/removed/changed, blocks shared";

/// Offline, content-addressed vector archives: an HNSW index, the vectors and the records in one
/// CAR file that you can query in place, verify, and publish on IPFS.
#[derive(Parser)]
#[command(name = "vecar", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print nothing but errors: no progress bars, no summaries, no root CID.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Worker threads [default: all cores]. Archives come out the same at any count, but for
    /// `build --index hnsw` and updates of HNSW archives of 20,000 records or more: give those 1.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Subcommand)]
enum Command {
    /// Build an archive from JSONL records.
    Build(cmd::build::Args),
    /// Add a vector made from its text to every JSONL line that has none.
    Embed(cmd::embed::Args),
    /// Find the nearest records to query vectors (or texts).
    Query(cmd::query::Args),
    /// Show what an archive holds.
    Info(cmd::info::Args),
    /// Check every block, link and count of an archive.
    Verify(cmd::verify::Args),
    /// Write the records back as JSONL, vectors included, in input order, or into another store.
    Export(cmd::export::Args),
    /// Make an archive from another store's vectors (FAISS, Qdrant, Elasticsearch).
    Import(cmd::import::Args),
    /// Write the records with the given ids as JSONL.
    Get(cmd::get::Args),
    /// List the blocks of an archive.
    Ls(cmd::ls::Args),
    /// Add or replace records by id, writing a new archive that shares unchanged blocks.
    Add(cmd::add::Args),
    /// Remove records by id, writing a new archive.
    Rm(cmd::rm::Args),
    /// Merge archives into one.
    Merge(cmd::merge::Args),
    /// Show the ids and blocks that differ between two archives.
    Diff(cmd::diff::Args),
    /// Import an archive into an IPFS node (its RPC API) and print its root CID.
    Push(cmd::push::Args),
    /// Fetch an archive by its root CID from gateways or a node, verify it, write a CARv2.
    Pull(cmd::pull::Args),
    /// Print the root CID of each archive, one per line.
    Root(cmd::root::Args),
    /// Show or empty the cache of blocks fetched for remote archives.
    Cache(cmd::cache::Args),
    /// Print a completion script for a shell.
    Completions(cmd::shell::CompletionArgs),
    /// Print the manual page (roff), for `man -l -` or a man directory.
    Man,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return finish(print_help(&e));
        }
        Err(e) => e.exit(),
    };
    progress::set_quiet(cli.quiet);
    let threads = cli
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let result = output::clean_up_on_signals()
        .and_then(|()| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global()
                .map_err(anyhow::Error::from)
        })
        .and_then(|()| match cli.command {
            Command::Build(args) => cmd::build::run(args, threads),
            Command::Embed(args) => cmd::embed::run(args),
            Command::Query(args) => cmd::query::run(args, threads),
            Command::Info(args) => cmd::info::run(args),
            Command::Verify(args) => cmd::verify::run(args),
            Command::Export(args) => cmd::export::run(args),
            Command::Import(args) => cmd::import::run(args),
            Command::Get(args) => cmd::get::run(args),
            Command::Ls(args) => cmd::ls::run(args),
            Command::Add(args) => cmd::add::run(args, threads),
            Command::Rm(args) => cmd::rm::run(args, threads),
            Command::Merge(args) => cmd::merge::run(args, threads),
            Command::Diff(args) => cmd::diff::run(args),
            Command::Push(args) => cmd::push::run(args),
            Command::Pull(args) => cmd::pull::run(args),
            Command::Root(args) => cmd::root::run(args),
            Command::Cache(args) => cmd::cache::run(args),
            Command::Completions(args) => cmd::shell::completions(args, Cli::command()),
            Command::Man => cmd::shell::man(Cli::command()),
        });
    finish(result)
}

/// The exit code of a command's result, with its error on stderr: a closed stdout is a quiet
/// success (`vecar ... | head -1`), a usage error exits 2, any other error 1.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::note(format_args!("vecar: {e:#}"));
            match e.is::<cmd::UsageError>() {
                true => ExitCode::from(2),
                false => ExitCode::FAILURE,
            }
        }
    }
}

/// Prints `--help` or `--version` through the same stdout as every command (clap's own
/// printing ignores a full disk).
fn print_help(e: &clap::Error) -> anyhow::Result<ExitCode> {
    let text = match std::io::stdout().is_terminal() {
        true => e.render().ansi().to_string(),
        false => e.render().to_string(),
    };
    let mut out = output::stdout();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// True when the error comes from writing to a closed pipe (`vecar ... | head -1`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}
