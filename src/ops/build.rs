//! Building: JSONL documents read into rows, and the HNSW index built over them (or extended
//! from a base archive's).

use anyhow::{anyhow, Context, Result};
use rayon::prelude::*;

use crate::archive::block::MAX_BLOCK_SIZE;
use crate::archive::build::{IndexBytes, PartitionBlocks};
use crate::archive::bytes::ByteSource;
use crate::archive::manifest::Fields;
use crate::archive::read::Archive;
use crate::archive::rows::{EncodedRow, Rows};
use crate::index::hnsw::{self, Hnsw};
use crate::index::partitioned::{self, Centroids};
use crate::input::{parse_doc, Doc, LineSource};
use crate::params::{Dtype, IndexParams};
use crate::progress;

/// The longest vector: one float32 row must fit a 1 MiB block.
pub const MAX_DIMENSIONS: usize = MAX_BLOCK_SIZE / 4;
/// Lines parsed together in parallel.
const PARSE_BATCH: usize = 4096;

/// Reads and checks every document: valid JSON objects, ids present and unique, vectors of one
/// length (`dimensions` if given, else the first line's). The first problem is reported with
/// file, line and field.
pub fn read_docs(lines: &mut impl LineSource, fields: &Fields, dimensions: Option<usize>) -> Result<Rows> {
    let bar = progress::counter("parse", "lines");
    let mut rows = Rows::new(dimensions.unwrap_or(0))?;
    loop {
        let mut batch = Vec::with_capacity(PARSE_BATCH);
        while batch.len() < PARSE_BATCH {
            match lines.next_line()? {
                Some(line) => batch.push(line),
                None => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let parsed: Vec<_> = batch
            .par_iter()
            .map(|(_, text)| {
                let doc = parse_doc(text, &fields.id, &fields.vector)?;
                EncodedRow::new(&doc.record[&fields.id], &doc.record, doc.vector).map_err(|e| e.to_string())
            })
            .collect();
        for ((line, _), result) in batch.iter().zip(parsed) {
            let at = |msg: String| anyhow!("{}:{line}: {msg}", lines.name());
            add_row(&mut rows, result.map_err(at)?, fields).map_err(at)?;
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// Reads the records another store gives (the bridges' imports: `ops::bridge`) into rows, with
/// the checks of [`read_docs`]: ids present and unique, vectors of finite numbers, all of one
/// length. Each record is a [`Doc`] whose record holds the id under `fields.id`; `name` names the
/// source in messages, which call the records by their 1-based position.
pub fn read_records(records: impl Iterator<Item = Result<Doc>>, name: &str, fields: &Fields) -> Result<Rows> {
    let bar = progress::counter("read", "records");
    let mut rows = Rows::new(0)?;
    for (n, doc) in records.enumerate() {
        let doc = doc?;
        let at = |msg: String| anyhow!("{name}: record {}: {msg}", n + 1);
        let id = doc
            .record
            .get(&fields.id)
            .ok_or_else(|| at(format!("missing {}", fields.id)))?;
        if let Some(i) = doc.vector.iter().position(|x| !x.is_finite()) {
            let (field, x) = (&fields.vector, doc.vector[i]);
            return Err(at(format!("{field}[{i}] = {x} is not a finite number")));
        }
        let row = EncodedRow::new(id, &doc.record, doc.vector).map_err(|e| at(e.to_string()))?;
        add_row(&mut rows, row, fields).map_err(at)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// Appends `row` to `rows` if its vector has the rows' length (the first row sets it) and its
/// id is new; otherwise says what is wrong.
fn add_row(rows: &mut Rows, row: EncodedRow, fields: &Fields) -> Result<(), String> {
    let found = row.vector.len();
    if found > MAX_DIMENSIONS {
        return Err(format!(
            "{} has {found} numbers; at most {MAX_DIMENSIONS} fit a block",
            fields.vector
        ));
    }
    if rows.dimensions == 0 {
        rows.dimensions = found;
    } else if found != rows.dimensions {
        return Err(format!(
            "{} has {found} numbers, expected {}",
            fields.vector, rows.dimensions
        ));
    }
    match rows.push(row).map_err(|e| format!("{e:#}"))? {
        Some(key) => Err(format!("duplicate {} {key}", fields.id)),
        None => Ok(()),
    }
}

/// Records from which `build --index auto`, the default, makes a partitioned index instead of an
/// HNSW one built on one thread. Measured on real vectors (bench/auto-results.md): below it HNSW
/// finds more of the true top 10 (0.98-0.99 against 0.95-0.96) and one thread builds it in a few
/// seconds; from it on the partitioned recall is 0.95 or more, a cold query takes about half the
/// CPU or less, and the one-thread HNSW build would cost 4-6x the partitioned one, and growing.
pub const AUTO_PARTITIONED_FROM: usize = 20_000;

/// The index `build` makes, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexChoice {
    /// A usearch HNSW graph built on `threads` threads; on one, the same rows give the same bytes.
    Hnsw {
        /// Threads that add vectors to the graph.
        threads: usize,
    },
    /// k-means partitions, about √n of them when `partitions` is `None`; the same bytes at any
    /// thread count.
    Partitioned {
        /// How many partitions.
        partitions: Option<usize>,
    },
}

impl IndexChoice {
    /// What `--index auto` builds for `rows` records: below [`AUTO_PARTITIONED_FROM`] an HNSW
    /// graph built on one thread, the only way usearch gives the same bytes twice (so the
    /// default build has one root CID at any `--threads`), and from there on a partitioned index,
    /// which is the same at any thread count.
    pub fn auto(rows: usize) -> IndexChoice {
        match rows < AUTO_PARTITIONED_FROM {
            true => IndexChoice::Hnsw { threads: 1 },
            false => IndexChoice::Partitioned { partitions: None },
        }
    }

    /// The scalar kind the manifest records for this index: `hnsw`'s for an HNSW graph, i8 for
    /// a partitioned index, whose partitions keep 8-bit rows.
    pub fn dtype(self, hnsw: Dtype) -> Dtype {
        match self {
            IndexChoice::Hnsw { .. } => hnsw,
            IndexChoice::Partitioned { .. } => Dtype::I8,
        }
    }

    /// Builds this index over every row ([`index_rows`] or [`partition_rows`]).
    pub fn build(self, rows: &Rows, params: &IndexParams) -> Result<IndexBytes> {
        match self {
            IndexChoice::Hnsw { threads } => index_rows(rows, params, threads),
            IndexChoice::Partitioned { partitions } => partition_rows(rows, params, partitions),
        }
    }
}

/// Builds the HNSW index over every row, and finds the rows its graph cannot lead to.
pub fn index_rows(rows: &Rows, params: &IndexParams, threads: usize) -> Result<IndexBytes> {
    let bar = progress::bar(rows.len() as u64, "index", "vectors");
    let file = hnsw::build(&rows.vectors, rows.dimensions, params, threads, &bar)?;
    bar.finish_and_clear();
    // SAFETY: the unnamed temporary file is this build's alone and not changed while mapped.
    let saved = unsafe { memmap2::Mmap::map(&file) }.context("mapping the saved index")?;
    let unreachable = hnsw::unreachable(&saved, rows.dimensions as u64, rows.len() as u64, params)?;
    Ok(IndexBytes {
        bytes: ByteSource::File(file),
        unreachable,
        partitions: None,
    })
}

/// Builds a partitioned index over every row: `partitions` centroids (about √n when `None`),
/// each row in the partition of its nearest. The same rows give the same bytes at any thread
/// count.
pub fn partition_rows(rows: &Rows, params: &IndexParams, partitions: Option<usize>) -> Result<IndexBytes> {
    let bar = progress::counter("index", "partitions");
    let count = partitions.unwrap_or_else(|| partitioned::default_partitions(rows.len()));
    let built = partitioned::build(&rows.vectors, rows.dimensions, params.metric, count);
    bar.finish_and_clear();
    Ok(partitioned_bytes(built))
}

/// Updates the partitioned index of `base` for `rows`: the base's rows but those in `removed`
/// (ascending row numbers), in order, those in `replaced` (ascending) with new vectors in place
/// and the others unchanged, then new rows. The removed and replaced rows leave their
/// partitions, the others are renumbered, and each replaced or new row joins the partition of
/// its nearest centroid; the centroids, and every partition chunk whose bytes stay the same,
/// keep their blocks.
pub fn extend_partitions(base: &Archive, rows: &Rows, removed: &[u64], replaced: &[u64]) -> Result<IndexBytes> {
    let (m, name) = (&base.manifest, base.name());
    let count = m.index.partitions.as_ref().map_or(0, |p| p.sizes.len());
    let bytes = base.index_bytes()?;
    let centroids = Centroids::read(&bytes, count, rows.dimensions, m.index.params.metric)
        .map_err(|e| e.context(name.to_string()))?;
    let parts = base.partition_bytes(&(0..count).collect::<Vec<_>>())?;
    let change = partitioned::Change {
        removed,
        replaced,
        vectors: &rows.vectors,
    };
    let built = partitioned::extend(&centroids, parts, m.count, &change).with_context(|| name.to_string())?;
    Ok(partitioned_bytes(built))
}

/// A built partitioned index as the archive stores it: the centroids as the index's bytes.
fn partitioned_bytes(built: partitioned::Built) -> IndexBytes {
    let centroids = built.centroids.iter().flat_map(|x| x.to_le_bytes()).collect();
    IndexBytes {
        bytes: ByteSource::Memory(centroids),
        unreachable: Vec::new(),
        partitions: Some(PartitionBlocks {
            sizes: built.sizes,
            rows: built.rows,
            codes: built.codes,
        }),
    }
}

/// Extends the index of `base`, whose rows are the first rows of `rows` unchanged, with the
/// rows after them (the base's own index, checked, when there are no rows after them), and
/// finds the rows its graph cannot lead to.
pub fn extend_index(base: &Archive, rows: &Rows, threads: usize) -> Result<IndexBytes> {
    let m = &base.manifest;
    let first = m.count as usize;
    let bytes = base.index_bytes()?;
    let index =
        Hnsw::load(&bytes, m.dimensions, m.count, &m.index.params, threads).with_context(|| base.name().to_string())?;
    let bytes = if rows.len() == first {
        bytes.to_vec()
    } else {
        let bar = progress::bar((rows.len() - first) as u64, "index", "vectors");
        let bytes = index.extend(&rows.vectors[first * rows.dimensions..], first, threads, &bar)?;
        bar.finish_and_clear();
        bytes
    };
    let unreachable = hnsw::unreachable(&bytes, m.dimensions, rows.len() as u64, &m.index.params)?;
    Ok(IndexBytes {
        bytes: ByteSource::Memory(bytes),
        unreachable,
        partitions: None,
    })
}
