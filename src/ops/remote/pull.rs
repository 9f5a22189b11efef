//! `pull`: an archive fetched whole by its root CID from trustless gateways or a node's RPC API,
//! checked as `vecar verify` checks a file, and written as a CARv2. A source is asked for one CAR
//! first and, if that is refused or broken, for each block in turn.

use std::collections::{HashSet, VecDeque};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use cid::Cid;
use ipld_core::ipld::Ipld;
use ureq::http::header;
use ureq::Agent;

use super::api::Api;
use super::stream::copy_verified;
use super::IDLE;
use crate::archive::block::{decode_dag_cbor, hash_matches, DAG_CBOR, MAX_BLOCK_SIZE};
use crate::archive::car::{CarFile, CarWriter};
use crate::archive::verify::Report;
use crate::http::{agent, failure, refused};
use crate::ops::verify::verify;
use crate::output;

/// Where an archive can be fetched from.
pub enum Source {
    /// A trustless HTTP gateway (`GET /ipfs/{cid}?format=car`): its base URL, and a client
    /// that keeps its connections open from block to block.
    Gateway(String, Agent),
    /// An IPFS node's RPC API (`dag/export`).
    Api(Api),
}

impl Source {
    /// The trustless gateway at `url` (`http://host:port`, with or without a path).
    pub fn gateway(url: &str) -> Source {
        Source::Gateway(url.trim().trim_end_matches('/').to_string(), agent(IDLE))
    }

    /// The source's address, for messages.
    pub fn name(&self) -> &str {
        match self {
            Source::Gateway(url, _) => url,
            Source::Api(api) => api.url(),
        }
    }

    /// The bytes the source gives for block `cid` (`?format=raw`, or `block/get`), at most
    /// 1 MiB and not yet checked against `cid`.
    fn block(&self, cid: &Cid) -> Result<Vec<u8>> {
        let (base, request) = match self {
            Source::Gateway(base, agent) => {
                let url = format!("{base}/ipfs/{cid}?format=raw");
                (
                    base.as_str(),
                    agent
                        .get(&url)
                        .header(header::ACCEPT, "application/vnd.ipld.raw")
                        .call(),
                )
            }
            Source::Api(api) => (api.url(), api.block_request(cid)),
        };
        let response = request.map_err(|e| failure(base, e, IDLE))?;
        if !response.status().is_success() {
            return Err(refused(base, response).context(format!("block {cid}")));
        }
        let mut data = Vec::new();
        let limit = MAX_BLOCK_SIZE as u64 + 1;
        response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader()
            .take(limit)
            .read_to_end(&mut data)
            .with_context(|| format!("{base}: reading block {cid}"))?;
        if data.len() as u64 == limit {
            bail!("{base}: block {cid} is larger than {MAX_BLOCK_SIZE} bytes");
        }
        Ok(data)
    }

    /// The CAR of the whole DAG under `root`, as the source streams it.
    fn open(&self, root: &Cid) -> Result<Box<dyn Read>> {
        match self {
            Source::Gateway(base, agent) => {
                let url = format!("{base}/ipfs/{root}?format=car&dag-scope=all");
                let response = agent
                    .get(&url)
                    .header(header::ACCEPT, "application/vnd.ipld.car")
                    .call()
                    .map_err(|e| failure(base, e, IDLE))?;
                if !response.status().is_success() {
                    return Err(refused(base, response));
                }
                Ok(Box::new(
                    response.into_body().into_with_config().limit(u64::MAX).reader(),
                ))
            }
            Source::Api(api) => Ok(Box::new(api.export(root)?)),
        }
    }
}

/// A pulled archive.
pub struct Pulled {
    /// What `verify` found in it.
    pub report: Report,
    /// The source it came from.
    pub source: String,
}

/// Fetches the archive `root` from the first of `sources` that gives a sound one, and writes it
/// to `out` (`-`: standard output) as a CARv2; if none does, an error naming what each did.
///
/// Blocks are checked against their CIDs as they arrive and kept in an unnamed temporary file
/// beside `out`; the whole archive is then verified (every link, no orphan, the manifest against
/// the records, vectors and index) before a byte of `out` is written, atomically.
pub fn pull(root: &Cid, sources: &[Source], out: &Path) -> Result<Pulled> {
    let mut failures = Vec::new();
    for source in sources {
        match pull_from(root, source, out) {
            Ok(report) => {
                return Ok(Pulled {
                    report,
                    source: source.name().to_string(),
                })
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    bail!("could not pull {root}: {}", failures.join("; "))
}

fn pull_from(root: &Cid, source: &Source, out: &Path) -> Result<Report> {
    let dir = match out.parent() {
        _ if out.as_os_str() == "-" => std::env::temp_dir(),
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => ".".into(),
    };
    let (car, blocks, report) = match fetch(root, source, &dir, Fetch::Car) {
        Ok(fetched) => fetched,
        Err(car) => fetch(root, source, &dir, Fetch::Blocks)
            .map_err(|blocks| anyhow!("{car:#}; then block by block: {blocks:#}"))?,
    };
    let write = |out: &mut dyn Write| -> Result<()> {
        let mut writer = CarWriter::with_index(out, root, blocks.iter().copied())?;
        for (cid, _) in &blocks {
            writer.write(cid, &car.block(cid)?)?;
        }
        writer.finish()?;
        Ok(())
    };
    if out.as_os_str() == "-" {
        write(&mut output::stdout())?;
    } else {
        output::write_file(out, |file| write(file))?;
    }
    Ok(report)
}

/// How an archive is fetched from a source.
enum Fetch {
    /// As one CAR.
    Car,
    /// Block by block, following the links from the root.
    Blocks,
}

/// Fetches the archive `root` from `source` as `how` says into an unnamed temporary file in
/// `dir` (a CARv1 of blocks already checked against their CIDs) and verifies it: the archive, its
/// blocks (CID and length) in order, and what `verify` found.
fn fetch(root: &Cid, source: &Source, dir: &Path, how: Fetch) -> Result<(Arc<CarFile>, Vec<(Cid, u64)>, Report)> {
    let name = source.name();
    let spool = tempfile::tempfile_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut writer = CarWriter::new(BufWriter::with_capacity(1 << 20, &spool), root)?;
    let blocks = match how {
        Fetch::Car => copy_verified(name, root, source.open(root)?, &mut writer)?,
        Fetch::Blocks => copy_blocks(root, source, &mut writer)?,
    };
    writer.finish()?;
    let car = Arc::new(CarFile::from_file(name, spool)?);
    let report = verify(car.clone())?;
    Ok((car, blocks, report))
}

/// Fetches every block reachable from `root`, one request each, checks each against its CID and
/// writes it to `out`; returns the blocks written (CID and length) in order.
fn copy_blocks<W: Write>(root: &Cid, source: &Source, out: &mut CarWriter<W>) -> Result<Vec<(Cid, u64)>> {
    let name = source.name();
    let mut seen = HashSet::from([*root]);
    let mut queue = VecDeque::from([*root]);
    let mut blocks = Vec::new();
    while let Some(cid) = queue.pop_front() {
        let data = source.block(&cid)?;
        if !hash_matches(&cid, &data) {
            bail!("{name}: block {cid} is corrupt (its sha2-256 does not match its CID)");
        }
        if cid.codec() == DAG_CBOR {
            let node: Ipld = decode_dag_cbor(&data).with_context(|| format!("{name}: block {cid}"))?;
            let mut links = Vec::new();
            node.references(&mut links);
            queue.extend(links.into_iter().filter(|link| seen.insert(*link)));
        }
        out.write(&cid, &data)?;
        blocks.push((cid, data.len() as u64));
    }
    Ok(blocks)
}
