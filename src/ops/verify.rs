//! `verify`: an archive checked end to end — its blocks, links, records and vectors
//! ([`archive::verify`](crate::archive::verify)), then its index's header and graph.

use std::sync::Arc;

use anyhow::Result;

use crate::archive::car::CarFile;
use crate::archive::verify::{self, Report};
use crate::index::hnsw::Hnsw;

/// Verifies `car` end to end and returns a report, or the first problem found.
pub fn verify(car: Arc<CarFile>) -> Result<Report> {
    let (report, archive) = verify::verify(car)?;
    let m = &archive.manifest;
    Hnsw::view(archive.index_bytes()?, m.dimensions, m.count, &m.index.params, 1)
        .map_err(|e| e.context(archive.name().to_string()))?;
    Ok(report)
}
