//! Searching an archive: HNSW candidates, or the best rows of the partitions nearest the query
//! (a partitioned index), re-scored exactly with the stored float32 vectors, or an exact scan.
//! Either way the reported scores are exact. A filter restricts the rows a
//! search may return: inside the HNSW traversal when many rows pass, by a scan of the passing
//! rows when few do, so `k` hits come back whenever `k` rows pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use bytes::Bytes;
use memmap2::MmapMut;
use rayon::prelude::*;

use super::filter::Filter;
use super::hnsw::Hnsw;
use super::partitioned::{Centroids, Probe};
use super::top::{top_k, Best};
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
    /// The serialized index (a partitioned index's centroids), verified.
    fn index_bytes(&self) -> Result<MmapMut>;
    /// Rows in each partition of a partitioned index; empty for an HNSW index.
    fn partition_sizes(&self) -> &[u64];
    /// The verified chunks of each of the given partitions, in order, all read together: its
    /// row lists' chunks, then as many codes chunks.
    fn partition_chunks(&self, partitions: &[usize]) -> Result<Vec<Vec<Bytes>>>;
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
    Partitioned(Partitioned),
    Exact(Vec<f32>),
}

/// Partitions probed per query when none is given: recall@10 0.96 on 50,000 real MiniLM
/// vectors in 224 partitions (bench/partitioned-results.md).
pub const DEFAULT_NPROBE: usize = 32;

/// Candidates (each query's `k` x `rescore`) a partitioned scan keeps for a group of queries,
/// about: a batch's queries are scanned in groups of this many over theirs, so the memory does not
/// grow with the batch where each keeps many (4,096 at the default, 20 each, are one group). Each
/// of [`FOLDS`] parts keeps up to twice a query's: on dev50k at `--rescore 100`, 763 MB without.
const SCAN_CANDIDATES: usize = 1 << 17;

/// Most parts a batch's partitions are split into to be scanned: each part keeps every query's
/// best rows, found again from nothing, so fewer parts keep fewer rows; enough for the threads
/// to share the work.
const FOLDS: usize = 16;

/// A partition's verified chunks.
type Loaded = Vec<Bytes>;

/// A partitioned index being searched: its centroids and the partitions read so far.
struct Partitioned {
    centroids: Centroids,
    nprobe: usize,
    loaded: Mutex<HashMap<usize, Loaded>>,
}

/// How to search.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Compare against every stored vector instead of searching the index.
    pub exact: bool,
    /// HNSW search breadth; the archive's own when `None`.
    pub ef: Option<usize>,
    /// Partitions a partitioned index's search scans; [`DEFAULT_NPROBE`] when `None`.
    pub nprobe: Option<usize>,
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
        let sizes = archive.partition_sizes();
        let method = if options.exact {
            Method::Exact(archive.all_vectors()?)
        } else if !sizes.is_empty() {
            let bytes = archive.index_bytes()?;
            let (dims, metric) = (archive.dimensions() as usize, params.metric);
            let centroids = Centroids::read(&bytes, sizes.len(), dims, metric)
                .map_err(|e| e.context(archive.name().to_string()))?;
            Method::Partitioned(Partitioned {
                centroids,
                nprobe: options.nprobe.unwrap_or(DEFAULT_NPROBE).max(1),
                loaded: Mutex::default(),
            })
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
            Method::Partitioned(p) => return self.search_partitions(p, queries, k, allowed),
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

    /// [`Searcher::search`] on a partitioned index: the best candidates of the `nprobe`
    /// partitions nearest each query, re-scored. A query whose partitions hold fewer than `k`
    /// allowed rows (a narrow filter) scans every partition.
    fn search_partitions(
        &self,
        p: &Partitioned,
        queries: &[&[f32]],
        k: usize,
        allowed: &Allowed,
    ) -> Result<Vec<Vec<Hit>>> {
        let wanted = k.saturating_mul(self.rescore).min(allowed.count());
        let probes: Vec<Vec<usize>> = queries.par_iter().map(|q| p.centroids.probe(q, p.nprobe)).collect();
        let loaded = self.partitions(p, probes.iter().flatten().copied())?;
        let mut candidates = self.scan_partitions(queries, &probes, &loaded, allowed, wanted)?;
        let short: Vec<usize> = (0..queries.len()).filter(|&q| candidates[q].len() < k).collect();
        if !short.is_empty() {
            let every: Vec<usize> = (0..self.archive.partition_sizes().len()).collect();
            let loaded = self.partitions(p, every.iter().copied())?;
            let again: Vec<&[f32]> = short.iter().map(|&q| queries[q]).collect();
            let probes = vec![every; short.len()];
            let found = self.scan_partitions(&again, &probes, &loaded, allowed, wanted)?;
            for (q, rows) in short.into_iter().zip(found) {
                candidates[q] = rows;
            }
        }
        self.rescore(queries, candidates, k)
    }

    /// The partitions `wanted`, read once for the searcher's life; only those are handed out,
    /// not every partition read so far.
    fn partitions(&self, p: &Partitioned, wanted: impl Iterator<Item = usize>) -> Result<HashMap<usize, Loaded>> {
        let wanted: BTreeSet<usize> = wanted.collect();
        let mut loaded = p.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let missing: Vec<usize> = wanted.iter().copied().filter(|w| !loaded.contains_key(w)).collect();
        if !missing.is_empty() {
            let chunks = self.archive.partition_chunks(&missing)?;
            loaded.extend(missing.into_iter().zip(chunks));
        }
        Ok(wanted.into_iter().map(|w| (w, loaded[&w].clone())).collect())
    }

    /// For each query, the `n` best allowed rows of the partitions `probes` names for it, by
    /// their 8-bit copies, the queries taken in groups of at most [`SCAN_CANDIDATES`] / n.
    fn scan_partitions(
        &self,
        queries: &[&[f32]],
        probes: &[Vec<usize>],
        loaded: &HashMap<usize, Loaded>,
        allowed: &Allowed,
        n: usize,
    ) -> Result<Vec<Vec<u64>>> {
        let group = (SCAN_CANDIDATES / n.max(1)).max(1);
        let mut found = Vec::with_capacity(queries.len());
        for (queries, probes) in queries.chunks(group).zip(probes.chunks(group)) {
            found.extend(self.scan_group(queries, probes, loaded, allowed, n)?);
        }
        Ok(found)
    }

    /// [`Searcher::scan_partitions`] for one group. Each partition is scanned once for all the
    /// queries that probe it: the scan is bound by memory bandwidth, so a group reads each
    /// partition once, not once a query.
    fn scan_group(
        &self,
        queries: &[&[f32]],
        probes: &[Vec<usize>],
        loaded: &HashMap<usize, Loaded>,
        allowed: &Allowed,
        n: usize,
    ) -> Result<Vec<Vec<u64>>> {
        let mut by_partition: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (q, probed) in probes.iter().enumerate() {
            for &p in probed {
                by_partition.entry(p).or_default().push(q);
            }
        }
        let prepared: Vec<Probe> = queries.par_iter().map(|q| Probe::new(q, self.metric)).collect();
        // Each thread keeps every query's best rows of the partitions it scans; then the
        // threads' are merged.
        let fresh = || vec![Best::new(n); queries.len()];
        let by_partition: Vec<(usize, Vec<usize>)> = by_partition.into_iter().collect();
        let best = by_partition
            .par_iter()
            .with_min_len(by_partition.len().div_ceil(FOLDS))
            .try_fold(fresh, |mut best, (p, asking)| {
                let probes: Vec<&Probe> = asking.iter().map(|&q| &prepared[q]).collect();
                let (count, allow) = (self.archive.count(), |row| allowed.contains(row));
                let mut keep = |i: usize, score: f32, row| best[asking[i]].offer(row, score as f64);
                // The same rows in row list chunk i and codes chunk i.
                let (rows, codes) = loaded[p].split_at(loaded[p].len() / 2);
                for (rows, codes) in rows.iter().zip(codes) {
                    Probe::scan(&probes, rows, codes, count, allow, &mut keep)
                        .map_err(|e| e.context(format!("{}: partition {p}", self.archive.name())))?;
                }
                Ok::<_, anyhow::Error>(best)
            })
            .try_reduce(fresh, |mut best, other| {
                best.iter_mut().zip(other).for_each(|(best, other)| best.merge(other));
                Ok(best)
            })?;
        Ok(best.into_iter().map(Best::rows).collect())
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
