//! `pull`: an archive fetched whole by its root CID from trustless gateways or a node's RPC API,
//! checked as `vecar verify` checks a file, and written as a CARv2. A source is asked for one CAR
//! first and, if that is refused or broken, for each block in turn.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use cid::Cid;
use ureq::http::header;

use super::fetch::{Fetcher, Origin};
use super::stream::copy_verified;
use crate::archive::car::{CarFile, CarWriter};
use crate::archive::source::{BlockSource, Blocks};
use crate::archive::verify::Report;
use crate::archive::walk::walk;
use crate::http::{failure, refused, Retry};
use crate::ops::verify::verify;
use crate::output;

/// The time limit of a pull's requests: none for a whole transfer, but a source that sends
/// nothing for two minutes is given up.
pub const TRANSFER: crate::http::Limit = super::IDLE;

/// Blocks fetched at once when an archive is pulled block by block.
const FETCH_JOBS: usize = 16;

/// The CAR of the whole DAG under `root`, as `origin` (a gateway: `?format=car`; a node:
/// `dag/export`) streams it.
fn open_car(origin: &Origin, root: &Cid) -> Result<Box<dyn Read>> {
    match origin {
        Origin::Gateway(base, agent, limit) => {
            let url = format!("{base}/ipfs/{root}?format=car&dag-scope=all");
            let response = agent
                .get(&url)
                .header(header::ACCEPT, "application/vnd.ipld.car")
                .call()
                .map_err(|e| failure(base, e, *limit))?;
            if !response.status().is_success() {
                return Err(refused(base, response));
            }
            Ok(Box::new(
                response.into_body().into_with_config().limit(u64::MAX).reader(),
            ))
        }
        Origin::Api(api) => Ok(Box::new(api.export(root)?)),
        Origin::Car(car) => bail!("{}: a CAR file is read, not pulled", car.name()),
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
pub fn pull(root: &Cid, sources: &[Origin], out: &Path) -> Result<Pulled> {
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

fn pull_from(root: &Cid, source: &Origin, out: &Path) -> Result<Report> {
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
    output::write_to(out, write)?;
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
fn fetch(root: &Cid, source: &Origin, dir: &Path, how: Fetch) -> Result<(Arc<CarFile>, Vec<(Cid, u64)>, Report)> {
    let name = source.name();
    let spool = tempfile::tempfile_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut writer = CarWriter::new(BufWriter::with_capacity(1 << 20, &spool), root)?;
    let blocks = match how {
        Fetch::Car => copy_verified(name, root, open_car(source, root)?, &mut writer)?,
        Fetch::Blocks => copy_blocks(root, source, &mut writer)?,
    };
    writer.finish()?;
    let car = Arc::new(CarFile::from_file(name, spool)?);
    let report = verify(car.clone())?;
    Ok((car, blocks, report))
}

/// Fetches every block reachable from `root` from `source`, a tree level at a time (each
/// block checked against its CID), and writes it to `out`; returns the blocks written (CID and
/// length) in order.
fn copy_blocks<W: Write>(root: &Cid, source: &Origin, out: &mut CarWriter<W>) -> Result<Vec<(Cid, u64)>> {
    let fetcher = Fetcher::new(source.name(), vec![source.clone()], None, FETCH_JOBS, Retry::default());
    let mut blocks = Vec::new();
    walk(&Blocks::new(Arc::new(fetcher)), root, |cid, data| {
        out.write(cid, data)?;
        blocks.push((*cid, data.len() as u64));
        Ok(())
    })?;
    Ok(blocks)
}
