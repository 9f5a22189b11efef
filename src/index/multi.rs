//! Searching several archives as one: each is searched in parallel and the hits merged into a
//! global top-k by exact score.

use anyhow::Result;
use rayon::prelude::*;

use super::search::{Allowed, Hit, Searcher, Store};

/// One archive ready for search, with the rows it may return.
pub struct Target<'a, S> {
    /// The archive.
    pub archive: &'a S,
    /// Its searcher.
    pub searcher: Searcher<'a, S>,
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

/// The `k` best hits of every query across all targets, best first (ties by archive, then row).
pub fn search<S: Store>(targets: &[Target<S>], queries: &[&[f32]], k: usize) -> Result<Vec<Vec<Found>>> {
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
                (b.hit.score)
                    .total_cmp(&a.hit.score)
                    .then((a.archive, a.hit.row).cmp(&(b.archive, b.hit.row)))
            });
            found.truncate(k);
            found
        })
        .collect())
}
