//! `vecar diff`: what changed between two archives, by id and by block.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::printer::escape_controls;
use vecar::archive::diff::diff;
use vecar::archive::ids::id_text;
use vecar::archive::read::Ahead;
use vecar::ops::open::open;
use vecar::output;

/// Arguments of `vecar diff`.
#[derive(clap::Args)]
#[command(after_help = "\
Prints one line per id that differs (`+ id` added in B, `- id` removed, `~ id` record or vector
changed), then a summary: the ids, one `setting` line per manifest setting that differs (metric,
dtype, HNSW parameters, field names, embedding model), the blocks of each role that both archives
hold (shared) or only one does, with their bytes, and the share of A's record and vector blocks
that B reuses.
--json prints all of it as one JSON object. Both archives' records and vectors are read and
verified whole. Either may be remote (ipfs://CID, a bare CID, the http(s) URL of a CARv2): its
blocks are those its manifest reaches (see `vecar ls --help`), fetched through a block cache
(without one, a temporary one), so no block is fetched twice.

Examples:
  vecar diff docs.car docs-v2.car
  vecar diff docs.car docs-v2.car | grep '^+ ' | cut -c3-
  vecar diff docs.car docs-v2.car --json | jq .blocks.vectors
  vecar diff --exit-code old.car new.car > /dev/null || echo changed")]
pub struct Args {
    /// The old archive.
    a: PathBuf,
    /// The new archive.
    b: PathBuf,
    #[command(flatten)]
    net: super::NetworkArgs,
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Exit 1 when the archives differ (their root CIDs do), 0 when they are the same.
    #[arg(long)]
    exit_code: bool,
}

/// Runs `vecar diff`.
pub fn run(args: Args) -> Result<ExitCode> {
    // A remote archive's records are read for their sizes, then for the rows.
    let (network, _temporary) = args.net.get()?.keeping_blocks(&[&args.a, &args.b]);
    let opened = |arg| open(arg, &network, Ahead::Nothing);
    let (a, b) = (opened(&args.a)?, opened(&args.b)?);
    let diff = diff(&a.archive, &b.archive, [&a.listing()?, &b.listing()?])?;
    let (a, b) = (&a.archive, &b.archive);
    let code = if args.exit_code && a.root != b.root {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    let mut out = output::stdout();
    if args.json {
        output::json_line(&mut out, &diff)?;
        out.flush()?;
        return Ok(code);
    }
    for (sign, ids) in [('+', &diff.added), ('-', &diff.removed), ('~', &diff.changed)] {
        for id in ids {
            writeln!(out, "{sign} {}", escape_controls(&id_text(id).unwrap_or_default()))?;
        }
    }
    writeln!(
        out,
        "ids: {} added, {} removed, {} changed, {} unchanged",
        diff.added.len(),
        diff.removed.len(),
        diff.changed.len(),
        diff.unchanged
    )?;
    let (a_name, b_name) = (a.name(), b.name());
    for (path, setting) in &diff.settings {
        writeln!(
            out,
            "setting {path}: {} in {a_name}, {} in {b_name}",
            setting.a, setting.b
        )?;
    }
    for (role, split) in &diff.blocks {
        writeln!(
            out,
            "{}: {} shared ({} bytes), {} only in {a_name} ({} bytes), {} only in {b_name} ({} bytes)",
            role.name(),
            split.shared.blocks,
            split.shared.bytes,
            split.only_a.blocks,
            split.only_a.bytes,
            split.only_b.blocks,
            split.only_b.bytes
        )?;
    }
    writeln!(
        out,
        "reuse: {b_name} holds {:.1}% of {a_name}'s record and vector blocks",
        diff.reuse() * 100.0
    )?;
    out.flush()?;
    Ok(code)
}
