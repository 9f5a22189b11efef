//! `verify`: an archive checked end to end — its blocks, links, records and vectors
//! ([`archive::verify`](crate::archive::verify)), then its index's header and graph, and that
//! every record a search through the graph cannot reach is listed in the manifest (for a
//! partitioned index: that every row is in exactly one partition). A remote
//! archive is walked from its root instead of section by section.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::open::{open, Network, Place};
use crate::archive::car::CarFile;
use crate::archive::read::{Ahead, Archive};
use crate::archive::verify::{self, check_rows, Report};
use crate::archive::walk::walk;
use crate::index::hnsw::{self, Hnsw};
use crate::index::partitioned::{rows_of, Centroids};

/// Verifies `car` end to end and returns a report, or the first problem found.
pub fn verify(car: Arc<CarFile>) -> Result<Report> {
    let (report, archive) = verify::verify(car)?;
    check_index(&archive)?;
    Ok(report)
}

/// Verifies the archive at `arg` (a file, `ipfs://CID`, a URL; see [`Place`]): a file as
/// [`verify`] does; a remote archive by fetching every block reachable from its root, then its
/// records, vectors and index.
pub fn verify_at(arg: &Path, network: &Network) -> Result<Report> {
    if let Place::File(path) = Place::of(arg)? {
        return verify(Arc::new(CarFile::open(&path)?));
    }
    // Every block is fetched by the walk, then read again by the checks.
    let (network, _temporary) = network.keeping_blocks(&[arg]);
    let opened = open(arg, &network, Ahead::Centroids)?;
    let archive = &opened.archive;
    let (mut blocks, mut bytes) = (0, 0);
    walk(&archive.blocks, &archive.root, |_, data| {
        blocks += 1;
        bytes += data.len() as u64;
        Ok(())
    })?;
    check_rows(archive)?;
    check_index(archive)?;
    Ok(Report {
        root: archive.root,
        blocks,
        bytes,
        records: archive.manifest.count,
        kind: match opened.car {
            Some(car) => car.kind(),
            None => "IPFS",
        },
    })
}

/// Checks the index's header and graph, and that every record the graph cannot reach is listed;
/// or a partitioned index's centroids and that every row is in exactly one partition.
fn check_index(archive: &Archive) -> Result<()> {
    let (m, name) = (&archive.manifest, archive.name());
    if let Some(partitions) = &m.index.partitions {
        return check_partitions(archive, partitions.sizes.len());
    }
    let bytes = archive.index_bytes()?;
    let unreachable =
        hnsw::unreachable(&bytes, m.dimensions, m.count, &m.index.params).map_err(|e| e.context(name.to_string()))?;
    Hnsw::view(bytes, m.dimensions, m.count, &m.index.params, 1).map_err(|e| e.context(name.to_string()))?;
    let unlisted = unreachable
        .iter()
        .filter(|row| m.index.unreachable.binary_search(row).is_err())
        .count();
    if unlisted > 0 {
        bail!(
            "{name}: {unlisted} of {} records cannot be found through the index graph and are not in the manifest's index.unreachable (rebuild the archive with this vecar)",
            m.count
        );
    }
    Ok(())
}

/// Partitions read together while checking.
const PARTITIONS_AT_ONCE: usize = 64;

/// Checks a partitioned index: centroids of finite numbers, partition chunks of whole rows, and
/// every row in exactly one partition.
fn check_partitions(archive: &Archive, count: usize) -> Result<()> {
    let (m, name) = (&archive.manifest, archive.name());
    let dims = m.dimensions as usize;
    let bytes = archive.index_bytes()?;
    Centroids::read(&bytes, count, dims, m.index.params.metric).map_err(|e| e.context(name.to_string()))?;
    let mut seen = vec![false; m.count as usize];
    let all: Vec<usize> = (0..count).collect();
    for window in all.chunks(PARTITIONS_AT_ONCE) {
        for (p, bytes) in window.iter().zip(archive.partition_bytes(window)?) {
            for row in rows_of(&bytes, dims).with_context(|| format!("{name}: partition {p}"))? {
                match seen.get_mut(row as usize) {
                    Some(seen @ false) => *seen = true,
                    Some(true) => bail!("{name}: row {row} is in partition {p} and in another"),
                    None => bail!("{name}: partition {p} lists row {row}; the archive has {}", m.count),
                }
            }
        }
    }
    Ok(())
}
