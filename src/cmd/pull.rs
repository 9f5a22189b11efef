//! `vecar pull`: fetch an archive by its root CID, verify it, and write it as a CARv2.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::UsageError;
use vecar::ops::open::parse_cid;
use vecar::ops::remote::api::Api;
use vecar::ops::remote::fetch::Origin;
use vecar::ops::remote::pull::{pull, TRANSFER};
use vecar::output;

/// Arguments of `vecar pull`.
#[derive(clap::Args)]
#[command(after_help = "\
Fetches the whole archive as one CAR from each source in turn until one gives a sound archive:
every --gateway (a trustless gateway: GET /ipfs/CID?format=car), then --api (an IPFS node's RPC
API: dag/export). Without either, the local node's API, found as `vecar push` finds it. A
source that refuses the CAR or sends a broken one is asked for each block instead (?format=raw,
or block/get). Every block is checked against its CID as it arrives (a block that fails is never
written), then every link, block and count as `vecar verify` checks them; only then is OUT
written, atomically.

Examples:
  vecar pull bafyrei... -o docs.car --gateway http://127.0.0.1:8080
  vecar pull ipfs://bafyrei... -o docs.car --api http://127.0.0.1:5001")]
pub struct Args {
    /// The archive's root CID (`ipfs://CID` and `/ipfs/CID` also work).
    cid: String,
    /// The CAR file to write (atomically); `-` writes to standard output.
    #[arg(short, long)]
    output: PathBuf,
    /// A trustless HTTP gateway's base URL; may be given several times, tried in order.
    #[arg(long, value_name = "URL")]
    gateway: Vec<String>,
    /// An IPFS node's RPC API: a URL or a multiaddr, tried after the gateways.
    #[arg(long, value_name = "URL")]
    api: Option<String>,
}

/// Runs `vecar pull`.
pub fn run(args: Args) -> Result<ExitCode> {
    let text = args.cid.trim();
    let text = text
        .strip_prefix("ipfs://")
        .or_else(|| text.strip_prefix("/ipfs/"))
        .unwrap_or(text);
    let root = parse_cid(text).map_err(|e| UsageError(e.to_string()))?;
    let mut sources: Vec<Origin> = args.gateway.iter().map(|url| Origin::gateway(url, TRANSFER)).collect();
    if args.api.is_some() || sources.is_empty() {
        sources.push(Origin::Api(Api::locate(args.api.as_deref())?));
    }
    let pulled = pull(&root, &sources, &args.output)?;
    let report = &pulled.report;
    if args.output.as_os_str() != "-" {
        let mut out = output::stdout();
        writeln!(out, "{root}")?;
        out.flush()?;
    }
    output::note(format_args!(
        "vecar: pulled {root} from {} into {}: {} records, {} blocks",
        pulled.source,
        output::name_of(&args.output),
        report.records,
        report.blocks
    ));
    Ok(ExitCode::SUCCESS)
}
