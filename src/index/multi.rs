//! Searching several archives as one: each is searched in parallel and the hits merged into a
//! global top-k by exact distance.

use anyhow::{bail, Result};
use rayon::prelude::*;

use super::search::{Allowed, Hit, Searcher};
use crate::archive::read::Archive;

/// One archive ready for search, with the rows it may return.
pub struct Target<'a> {
    /// The archive.
    pub archive: &'a Archive,
    /// Its searcher.
    pub searcher: Searcher<'a>,
    /// The rows that pass the filter.
    pub allowed: Allowed,
}

/// A hit in one of several archives.
pub struct Found {
    /// Position of the archive among the targets.
    pub archive: usize,
    /// The hit in that archive.
    pub hit: Hit,
}

/// Checks that archives share dimensions and metric, so their distances compare; `what` ends the
/// error ("searched together").
pub fn check_compatible(archives: &[Archive], what: &str) -> Result<()> {
    let first = &archives[0];
    let (dims, metric) = (first.manifest.dimensions, first.manifest.index.params.metric);
    for other in &archives[1..] {
        let (d, m) = (other.manifest.dimensions, other.manifest.index.params.metric);
        if (d, m) != (dims, metric) {
            bail!(
                "{} has {d} dimensions and metric {}, but {} has {dims} and {}: they cannot be {what}",
                other.name(),
                m.name(),
                first.name(),
                metric.name()
            );
        }
        if let (Some(a), Some(b)) = (&first.manifest.embedding, &other.manifest.embedding) {
            if a != b {
                bail!(
                    "{} was embedded with {} model {:?} and {} with {} model {:?}: they cannot be {what}",
                    first.name(),
                    a.provider,
                    a.model,
                    other.name(),
                    b.provider,
                    b.model
                );
            }
        }
    }
    Ok(())
}

/// The `k` best hits of every query across all targets, best first (ties by archive, then row).
pub fn search(targets: &[Target], queries: &[&[f32]], k: usize) -> Result<Vec<Vec<Found>>> {
    let per_archive: Vec<Vec<Vec<Hit>>> = targets
        .par_iter()
        .map(|t| t.searcher.search(queries, k, &t.allowed))
        .collect::<Result<_>>()?;
    Ok((0..queries.len())
        .map(|q| {
            let mut found: Vec<Found> = per_archive
                .iter()
                .enumerate()
                .flat_map(|(archive, results)| results[q].iter().map(move |&hit| Found { archive, hit }))
                .collect();
            found.sort_by(|a, b| {
                a.hit
                    .distance
                    .total_cmp(&b.hit.distance)
                    .then((a.archive, a.hit.row).cmp(&(b.archive, b.hit.row)))
            });
            found.truncate(k);
            found
        })
        .collect())
}
