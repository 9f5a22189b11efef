//! Searching an archive: HNSW candidates re-scored exactly with the stored float32 vectors, or
//! an exact scan of every vector. Either way the reported distances are exact.

use std::collections::BTreeSet;

use anyhow::Result;
use rayon::prelude::*;

use super::hnsw::Hnsw;
use super::Metric;
use crate::archive::read::Archive;

/// One result: a row of the archive and its exact distance to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Row number (input order) of the record.
    pub row: u64,
    /// The metric's distance; lower is closer.
    pub distance: f64,
}

enum Method {
    Hnsw(Hnsw),
    Exact(Vec<f32>),
}

/// Answers queries against one archive.
pub struct Searcher<'a> {
    archive: &'a Archive,
    method: Method,
    metric: Metric,
}

impl<'a> Searcher<'a> {
    /// Loads what the search needs: the index (verified, header checked) or, for an exact
    /// search, every vector. `ef` overrides the archive's search breadth.
    pub fn open(archive: &'a Archive, exact: bool, ef: Option<usize>, threads: usize) -> Result<Searcher<'a>> {
        let m = &archive.manifest;
        let method = if exact {
            Method::Exact(archive.all_vectors()?)
        } else {
            let index = Hnsw::load(&archive.index_bytes()?, m.dimensions, m.count, &m.index.params, threads)
                .map_err(|e| e.context(archive.car.name().to_string()))?;
            if let Some(ef) = ef {
                index.set_expansion(ef);
            }
            Method::Hnsw(index)
        };
        Ok(Searcher {
            archive,
            method,
            metric: m.index.params.metric,
        })
    }

    /// The `k` best hits of every query, best first (ties by row).
    pub fn search(&self, queries: &[&[f32]], k: usize) -> Result<Vec<Vec<Hit>>> {
        let dims = self.archive.manifest.dimensions as usize;
        match &self.method {
            Method::Exact(vectors) => Ok(queries
                .par_iter()
                .map(|q| {
                    let hits = vectors.chunks_exact(dims).enumerate().map(|(row, v)| Hit {
                        row: row as u64,
                        distance: self.metric.distance(q, v),
                    });
                    top_k(hits.collect(), k)
                })
                .collect()),
            Method::Hnsw(index) => {
                let candidates: Vec<Vec<u64>> =
                    queries.par_iter().map(|q| index.search(q, k)).collect::<Result<_>>()?;
                let rows: BTreeSet<u64> = candidates.iter().flatten().copied().collect();
                let vectors = self.archive.vectors_of(&rows)?;
                Ok(queries
                    .iter()
                    .zip(candidates)
                    .map(|(q, rows)| {
                        let hits = rows.into_iter().map(|row| Hit {
                            row,
                            distance: self.metric.distance(q, &vectors[&row]),
                        });
                        top_k(hits.collect(), k)
                    })
                    .collect())
            }
        }
    }
}

/// The `k` closest hits, sorted by distance then row.
fn top_k(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let order = |a: &Hit, b: &Hit| a.distance.total_cmp(&b.distance).then(a.row.cmp(&b.row));
    if k == 0 {
        return Vec::new();
    }
    if hits.len() > k {
        hits.select_nth_unstable_by(k - 1, order);
        hits.truncate(k);
        hits.shrink_to_fit();
    }
    hits.sort_by(order);
    hits
}
