//! `verify`: an archive checked end to end — its blocks, links, records and vectors
//! ([`archive::verify`](crate::archive::verify)), then its index's header and graph, and that
//! every record a search through the graph cannot reach is listed in the manifest.

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::archive::car::CarFile;
use crate::archive::verify::{self, Report};
use crate::index::hnsw::{self, Hnsw};

/// Verifies `car` end to end and returns a report, or the first problem found.
pub fn verify(car: Arc<CarFile>) -> Result<Report> {
    let (report, archive) = verify::verify(car)?;
    let (m, name) = (&archive.manifest, archive.name());
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
    Ok(report)
}
