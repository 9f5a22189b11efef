//! Searching an archive: HNSW candidates re-scored exactly with the stored float32 vectors, or
//! an exact scan. Either way the reported scores are exact. A filter restricts the rows a
//! search may return: inside the HNSW traversal when many rows pass, by a scan of the passing
//! rows when few do, so `k` hits come back whenever `k` rows pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use anyhow::Result;
use memmap2::MmapMut;
use rayon::prelude::*;

use super::filter::Filter;
use super::hnsw::Hnsw;
use crate::input::Record;
use crate::params::{IndexParams, Metric};

/// What a search reads: the rows' records and vectors, and the serialized index. An archive is
/// one (see `ops::search`); rows held in memory could be another.
pub trait Store: Sync {
    /// The store's name, for messages.
    fn name(&self) -> &str;
    /// Number of rows.
    fn count(&self) -> u64;
    /// Length of every vector.
    fn dimensions(&self) -> u64;
    /// The index's settings.
    fn params(&self) -> &IndexParams;
    /// The serialized index, verified.
    fn index_bytes(&self) -> Result<MmapMut>;
    /// The rows no search through the index's graph returns (see `layout::unreachable`),
    /// ascending: every search takes them as candidates too.
    fn unreachable(&self) -> &[u64];
    /// Every vector, in row order.
    fn all_vectors(&self) -> Result<Vec<f32>>;
    /// Calls `f` with every record and its row number, in row order.
    fn for_each_record(&self, f: impl FnMut(u64, &Record) -> Result<()>) -> Result<()>;
    /// `f(row, vector)` for each of the given rows.
    fn with_vectors<T: Send>(
        &self,
        rows: &BTreeSet<u64>,
        f: impl Fn(u64, &[f32]) -> T + Sync,
    ) -> Result<HashMap<u64, T>>;
}

/// One result: a row of the archive and its exact score for the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Row number (input order) of the record.
    pub row: u64,
    /// The metric's score ([`Metric::score`]); higher is closer.
    pub score: f64,
}

/// The rows a search may return.
pub struct Allowed {
    rows: Vec<bool>,
    count: usize,
}

impl Allowed {
    /// The rows of `archive` that pass `filter` (all rows without one), less `exclude`.
    pub fn compute(archive: &impl Store, filter: Option<&Filter>, exclude: Option<u64>) -> Result<Allowed> {
        let mut rows = vec![true; archive.count() as usize];
        if let Some(filter) = filter {
            archive.for_each_record(|row, record| {
                rows[row as usize] = filter.matches(record);
                Ok(())
            })?;
        }
        if let Some(row) = exclude {
            rows[row as usize] = false;
        }
        let count = rows.iter().filter(|&&ok| ok).count();
        Ok(Allowed { rows, count })
    }

    /// How many rows may be returned.
    pub fn count(&self) -> usize {
        self.count
    }

    fn contains(&self, row: u64) -> bool {
        self.rows.get(row as usize).copied().unwrap_or(false)
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, &ok)| ok)
            .map(|(row, _)| row as u64)
    }
}

/// Rows with a copy of their vectors.
type RowVectors = Vec<(u64, Vec<f32>)>;

enum Method {
    Hnsw(Hnsw),
    Exact(Vec<f32>),
}

/// How to search.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Compare against every stored vector instead of searching the index.
    pub exact: bool,
    /// HNSW search breadth; the archive's own when `None`.
    pub ef: Option<usize>,
    /// Take this many times `k` candidates from the index and keep the `k` best by exact
    /// distance (1: re-order the index's own `k`).
    pub rescore: usize,
}

/// Answers queries against one archive.
pub struct Searcher<'a, S> {
    archive: &'a S,
    method: Method,
    metric: Metric,
    ef: usize,
    rescore: usize,
    /// The index's copies of the allowed rows, read on first need.
    subset: OnceLock<Result<RowVectors, String>>,
}

impl<'a, S: Store> Searcher<'a, S> {
    /// Loads what the search needs: the index (verified, header and graph checked, searched in
    /// place) or, for an exact search, every vector.
    pub fn open(archive: &'a S, options: SearchOptions, threads: usize) -> Result<Searcher<'a, S>> {
        let params = archive.params();
        let ef = options.ef.unwrap_or(params.expansion_search as usize);
        let method = if options.exact {
            Method::Exact(archive.all_vectors()?)
        } else {
            let bytes = archive.index_bytes()?;
            let index = Hnsw::view(bytes, archive.dimensions(), archive.count(), params, threads)
                .map_err(|e| e.context(archive.name().to_string()))?;
            index.set_expansion(ef);
            Method::Hnsw(index)
        };
        Ok(Searcher {
            archive,
            method,
            metric: params.metric,
            ef,
            rescore: options.rescore.max(1),
            subset: OnceLock::new(),
        })
    }

    /// The `k` best hits of every query among the `allowed` rows, best first: all
    /// of them when `k` is larger, so no allocation grows with `k` beyond the archive.
    pub fn search(&self, queries: &[&[f32]], k: usize, allowed: &Allowed) -> Result<Vec<Vec<Hit>>> {
        let dims = self.archive.dimensions() as usize;
        let k = k.min(allowed.count());
        let all = allowed.count() == self.archive.count() as usize;
        let index = match &self.method {
            Method::Exact(vectors) => {
                return Ok(queries
                    .par_iter()
                    .map(|q| {
                        let rows = allowed.iter();
                        let hits = rows.map(|row| self.hit(q, row, &vectors[row as usize * dims..][..dims]));
                        top_k(hits.collect(), k)
                    })
                    .collect());
            }
            Method::Hnsw(index) => index,
        };
        // Few allowed rows: scanning them beats a filtered traversal (cost n·s against ef/s).
        let scan = !all && allowed.count().pow(2) <= 16 * self.ef * self.archive.count() as usize;
        let wanted = k.saturating_mul(self.rescore).min(allowed.count());
        let find = |q: &[f32]| {
            if all {
                return index.search(q, wanted);
            }
            if !scan {
                let rows = index.filtered_search(q, wanted, |row| allowed.contains(row))?;
                if rows.len() >= k.min(allowed.count()) {
                    return Ok(rows);
                }
            }
            self.scan_subset(index, allowed, q, wanted.max(2 * k))
        };
        // The rows the graph cannot lead to are candidates of every query.
        let unreachable = self.archive.unreachable();
        let candidates: Vec<Vec<u64>> = queries
            .par_iter()
            .map(|q| {
                let mut rows = find(q)?;
                let missing: Vec<u64> = unreachable
                    .iter()
                    .filter(|&&row| allowed.contains(row) && !rows.contains(&row))
                    .copied()
                    .collect();
                rows.extend(missing);
                Ok(rows)
            })
            .collect::<Result<_>>()?;
        self.rescore(queries, candidates, k)
    }

    /// The `n` best candidates among the allowed rows by the index's own copy of the vectors
    /// (at least twice `k`, since that copy may be quantized).
    fn scan_subset(&self, index: &Hnsw, allowed: &Allowed, query: &[f32], n: usize) -> Result<Vec<u64>> {
        let subset = self.subset.get_or_init(|| {
            allowed
                .iter()
                .map(|row| Ok((row, index.vector(row)?)))
                .collect::<Result<_>>()
                .map_err(|e| format!("{e:#}"))
        });
        let subset = subset.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let hits = subset.iter().map(|(row, v)| self.hit(query, *row, v)).collect();
        Ok(top_k(hits, n).into_iter().map(|h| h.row).collect())
    }

    /// The `k` best candidates of each query by exact score, from the stored float32
    /// vectors (each chunk read once for the whole batch).
    fn rescore(&self, queries: &[&[f32]], candidates: Vec<Vec<u64>>, k: usize) -> Result<Vec<Vec<Hit>>> {
        let mut wanted_by: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (query, rows) in candidates.iter().enumerate() {
            for &row in rows {
                wanted_by.entry(row).or_default().push(query);
            }
        }
        let rows: BTreeSet<u64> = wanted_by.keys().copied().collect();
        let scored = self.archive.with_vectors(&rows, |row, vector| {
            wanted_by[&row]
                .iter()
                .map(|&query| (query, self.hit(queries[query], row, vector)))
                .collect::<Vec<_>>()
        })?;
        let mut per_query = vec![Vec::new(); queries.len()];
        for (query, hit) in scored.into_values().flatten() {
            per_query[query].push(hit);
        }
        Ok(per_query.into_iter().map(|hits| top_k(hits, k)).collect())
    }

    fn hit(&self, query: &[f32], row: u64, vector: &[f32]) -> Hit {
        Hit {
            row,
            score: self.metric.score(query, vector),
        }
    }
}

/// The `k` best hits, sorted by score (best first) then row.
fn top_k(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let order = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
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
