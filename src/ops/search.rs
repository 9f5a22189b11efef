//! Searching archives: an archive as the index's [`Store`], the checks that let archives be
//! searched together, the record a query `--like` names, and the hits joined to their records.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::{bail, Result};
use bytes::Bytes;
use memmap2::MmapMut;

use crate::archive::ids;
use crate::archive::read::{Archive, Located};
use crate::index::filter::{Filter, FilterHint};
use crate::index::multi::{self, Found, Target};
use crate::index::search::{Allowed, SearchOptions, Searcher, Store};
use crate::input::Record;
use crate::params::IndexParams;

/// The most candidate rows whose records are fetched with their vectors (k 10 and --rescore 2
/// give 20 a query).
const PREFETCH_RECORDS_ROWS: usize = 64;

/// An archive is searched in place: records, vectors and the index read from its blocks.
impl Store for Archive {
    fn name(&self) -> &str {
        Archive::name(self)
    }

    fn count(&self) -> u64 {
        self.manifest.count
    }

    fn dimensions(&self) -> u64 {
        self.manifest.dimensions
    }

    fn params(&self) -> &IndexParams {
        &self.manifest.index.params
    }

    fn index_bytes(&self) -> Result<MmapMut> {
        Archive::index_bytes(self)
    }

    fn partition_sizes(&self) -> &[u64] {
        self.manifest.index.partitions.as_ref().map_or(&[], |p| &p.sizes)
    }

    fn partition_chunks(&self, partitions: &[usize]) -> Result<Vec<Vec<Bytes>>> {
        Archive::partitions_together(self, partitions)
    }

    fn unreachable(&self) -> &[u64] {
        &self.manifest.index.unreachable
    }

    fn all_vectors(&self) -> Result<Vec<f32>> {
        Archive::all_vectors(self)
    }

    fn for_each_record(&self, f: impl FnMut(u64, &Record) -> Result<()>) -> Result<()> {
        Archive::for_each_record(self, f)
    }

    fn with_vectors<T: Send>(
        &self,
        rows: &BTreeSet<u64>,
        f: impl Fn(u64, &[f32]) -> T + Sync,
    ) -> Result<HashMap<u64, T>> {
        // A search re-scores its candidates, then reads the records of the best of them. For a
        // few queries (an interactive one, where latency counts), the records' chunks are asked
        // for with the vectors', one round trip over the network instead of two; the chunks of
        // the candidates that lose stay fetched and unread, so a big batch does not do this.
        if rows.len() <= PREFETCH_RECORDS_ROWS {
            self.prefetch_rows(rows)?;
        }
        Archive::with_vectors(self, rows, f)
    }
}

/// The names in `wanted` that no record of `archives` has as a field, in the order given, and
/// the field names seen while looking. Reading stops as soon as every name is found, so only a
/// missing name costs a read of every record.
pub fn missing_fields(archives: &[Archive], wanted: &[&str]) -> Result<(Vec<String>, BTreeSet<String>)> {
    let mut missing: Vec<String> = wanted.iter().map(|name| name.to_string()).collect();
    let mut seen = BTreeSet::new();
    for archive in archives {
        if missing.is_empty() {
            break;
        }
        for chunk in &archive.records_list()?.chunks {
            if missing.is_empty() {
                return Ok((missing, seen));
            }
            for record in archive.records_in(chunk)? {
                seen.extend(record.into_iter().map(|(name, _)| name));
            }
            missing.retain(|name| !seen.contains(name));
        }
    }
    Ok((missing, seen))
}

/// Why no record of `archives` passes `filter`, read from every record ([`FilterHint`]).
fn filter_hint(archives: &[Archive], filter: &Filter) -> Result<Option<String>> {
    let mut hint = FilterHint::new(filter);
    for archive in archives {
        archive.for_each_record(|_, record| Ok(hint.observe(record)))?;
    }
    Ok(hint.message())
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

/// Checks that no archive is given twice (by root CID, so a copy counts too): its hits would
/// all come back twice.
pub fn check_distinct(archives: &[Archive]) -> Result<()> {
    for (i, a) in archives.iter().enumerate() {
        if let Some(b) = archives[..i].iter().find(|b| b.root == a.root) {
            bail!(
                "{} and {} are the same archive (root {}): give it once",
                b.name(),
                a.name(),
                a.root
            );
        }
    }
    Ok(())
}

/// The record named by --like: its row in each archive that holds it, and its stored vector.
pub struct Like {
    /// Per archive: the record's row there, if it holds it.
    pub rows: Vec<Option<u64>>,
    /// Its stored vector.
    pub vector: Vec<f32>,
}

/// The record with id `id` (its text, [`ids`]) in every one of `archives`, for `query --like`.
/// The archives that hold it must hold the same vector for it, so the query is the same
/// whichever is read.
pub fn find_id(archives: &[Archive], id: &str) -> Result<Like> {
    let mut rows = Vec::with_capacity(archives.len());
    let mut found: Option<(usize, Vec<f32>)> = None;
    for (i, archive) in archives.iter().enumerate() {
        let row = ids::find(archive, &HashSet::from([id]))?.get(id).map(|&(row, _)| row);
        rows.push(row);
        let Some(row) = row else { continue };
        let vector = archive
            .vectors_of(&BTreeSet::from([row]))?
            .remove(&row)
            .expect("the row was read");
        match &found {
            None => found = Some((i, vector)),
            Some((first, v)) if *v != vector => bail!(
                "--like: id {id} has one vector in {} and another in {}: query one of them",
                archives[*first].name(),
                archive.name()
            ),
            Some(_) => {}
        }
    }
    let Some((_, vector)) = found else {
        let names: Vec<&str> = archives.iter().map(|a| a.name()).collect();
        bail!("--like: no record with id {id} in {}", names.join(", "))
    };
    Ok(Like { rows, vector })
}

/// Queries best searched together: each batch re-scores its candidates from the vector chunks,
/// read and hashed once a batch, and 1,024 queries with 20 candidates each touch most chunks of a
/// 50k-row archive, so bigger batches read each chunk fewer times (10,000 queries on dev50k, HNSW:
/// 1.22-1.29 -> 0.81-0.86 s, CPU -33%, peak RSS 58 -> 84-88 MB; partitioned, 1,024 -> 4,096:
/// CPU 2.27 -> 1.67 s, peak RSS 54 -> 94 MB). A partitioned scan keeps only each query's best
/// rows, so its memory does not grow with the rows a batch probes.
pub const BATCH: usize = 4096;

/// Archives searched as one: each with its searcher and the rows it may return.
pub struct Search<'a> {
    targets: Vec<Target<'a, Archive>>,
    min_score: Option<f64>,
    hint: Option<String>,
}

/// The hits of a batch of queries, joined to their records.
pub struct Answers<'a> {
    /// Each query's hits, best first.
    pub hits: Vec<Vec<Found>>,
    archives: Vec<&'a Archive>,
    records: Vec<HashMap<u64, Located>>,
}

impl<'a> Search<'a> {
    /// Opens `archives` (checked by [`check_compatible`]) for search: only rows that pass
    /// `filter`, less the record `like` names, and only hits scoring at least `min_score`.
    pub fn open(
        archives: &'a [Archive],
        options: SearchOptions,
        filter: Option<&Filter>,
        like: Option<&Like>,
        min_score: Option<f64>,
        threads: usize,
    ) -> Result<Search<'a>> {
        let targets = archives
            .iter()
            .enumerate()
            .map(|(i, archive)| {
                let searcher = Searcher::open(archive, options, threads)?;
                let exclude = like.and_then(|l| l.rows[i]);
                Ok(Target {
                    archive,
                    searcher,
                    allowed: Allowed::compute(archive, filter, exclude)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let none_pass = targets.iter().all(|t| t.allowed.count() == 0);
        let hint = match filter {
            Some(filter) if none_pass => filter_hint(archives, filter)?,
            _ => None,
        };
        Ok(Search {
            targets,
            min_score,
            hint,
        })
    }

    /// When the filter lets no record through, why ([`FilterHint`]), if the records tell.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The `k` best hits of every query across the archives, with their records (each records
    /// chunk read once for the batch).
    pub fn answer(&self, queries: &[&[f32]], k: usize) -> Result<Answers<'a>> {
        let mut hits = multi::search(&self.targets, queries, k)?;
        if let Some(min) = self.min_score {
            hits.iter_mut().for_each(|hits| hits.retain(|f| f.hit.score >= min));
        }
        let records = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let rows = hits
                    .iter()
                    .flatten()
                    .filter(|f| f.archive == i)
                    .map(|f| f.hit.row)
                    .collect();
                t.archive.records_of(&rows)
            })
            .collect::<Result<_>>()?;
        let archives = self.targets.iter().map(|t| t.archive).collect();
        Ok(Answers {
            hits,
            archives,
            records,
        })
    }
}

impl<'a> Answers<'a> {
    /// The archive that holds `found`.
    pub fn archive(&self, found: &Found) -> &'a Archive {
        self.archives[found.archive]
    }

    /// The record of `found` and the CID of its chunk.
    pub fn record(&self, found: &Found) -> &Located {
        &self.records[found.archive][&found.hit.row]
    }
}
