//! Building an archive: JSONL documents in, index built, blocks chunked and hashed, CAR out.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{anyhow, Context, Result};
use cid::Cid;
use rayon::prelude::*;

use super::block::{Block, DAG_CBOR, MAX_BLOCK_SIZE, RAW};
use super::car::CarWriter;
use super::chunking;
use super::manifest::{Fields, IndexInfo, Manifest, Vectors, FORMAT_NAME, FORMAT_VERSION, INDEX_CHUNK_SIZE};
use super::read::Archive;
use super::records;
use super::rows::{Row, Rows};
use super::tree;
use super::vectors;
use crate::index::hnsw::{self, Hnsw};
use crate::index::IndexParams;
use crate::input::{parse_doc, Lines};
use crate::progress;

/// The longest vector: one float32 row must fit a 1 MiB block.
pub const MAX_DIMENSIONS: usize = MAX_BLOCK_SIZE / 4;
/// Lines parsed together in parallel.
const PARSE_BATCH: usize = 4096;

/// What `build` needs besides the input.
pub struct BuildOptions {
    /// Input field names.
    pub fields: Fields,
    /// Index settings.
    pub params: IndexParams,
    /// Links per link node.
    pub max_links: usize,
}

/// Reads and checks every document: valid JSON objects, ids present and unique, vectors of one
/// length (`dimensions` if given, else the first line's). The first problem is reported with
/// file, line and field.
pub fn read_docs(lines: &mut Lines, fields: &Fields, dimensions: Option<usize>) -> Result<Rows> {
    let bar = progress::counter("parse", "lines");
    let mut rows = Rows::new(dimensions.unwrap_or(0));
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
                Row::new(&doc.record[&fields.id], &doc.record, doc.vector).map_err(|e| e.to_string())
            })
            .collect();
        for ((line, _), result) in batch.iter().zip(parsed) {
            let at = |msg: String| anyhow!("{}:{line}: {msg}", lines.name());
            let row = result.map_err(at)?;
            let found = row.vector.len();
            if found > MAX_DIMENSIONS {
                let msg = format!(
                    "{} has {found} numbers; at most {MAX_DIMENSIONS} fit a block",
                    fields.vector
                );
                return Err(at(msg));
            }
            if rows.dimensions == 0 {
                rows.dimensions = found;
            } else if found != rows.dimensions {
                let msg = format!("{} has {found} numbers, expected {}", fields.vector, rows.dimensions);
                return Err(at(msg));
            }
            rows.push(row)
                .map_err(|key| at(format!("duplicate {} {key}", fields.id)))?;
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// Builds the HNSW index over every row and returns its serialized bytes.
pub fn index_rows(rows: &Rows, params: &IndexParams, threads: usize) -> Result<Vec<u8>> {
    let bar = progress::bar(rows.len() as u64, "index", "vectors");
    let bytes = hnsw::build(&rows.vectors, rows.dimensions, params, threads, &bar)?;
    bar.finish_and_clear();
    Ok(bytes)
}

/// Extends the index of `base`, whose rows are the first rows of `rows` unchanged, with the
/// rows after them, and returns its serialized bytes (the base's own bytes, checked, when there
/// are no rows after them).
pub fn extend_index(base: &Archive, rows: &Rows, threads: usize) -> Result<Vec<u8>> {
    let m = &base.manifest;
    let first = m.count as usize;
    let bytes = base.index_bytes()?;
    let index = Hnsw::load(&bytes, m.dimensions, m.count, &m.index.params, threads)
        .with_context(|| base.car.name().to_string())?;
    if rows.len() == first {
        return Ok(bytes);
    }
    let bar = progress::bar((rows.len() - first) as u64, "index", "vectors");
    let bytes = index.extend(&rows.vectors[first * rows.dimensions..], first, threads, &bar)?;
    bar.finish_and_clear();
    Ok(bytes)
}

/// A finished archive: its root and its blocks, manifest first, without duplicates.
pub struct Assembled {
    /// The manifest's CID.
    pub root: Cid,
    /// Every block, manifest first.
    pub blocks: Vec<Block>,
}

/// Chunks the rows and the serialized index into blocks, under a new manifest.
pub fn assemble(rows: &Rows, index_bytes: &[u8], options: &BuildOptions) -> Result<Assembled> {
    let dims = rows.dimensions;
    let sizes: Vec<usize> = rows.records.iter().map(Vec::len).collect();
    let ranges = chunking::chunk_rows(&rows.ends, &sizes, dims);
    let (record_chunks, vector_chunks): (Vec<_>, Vec<_>) = ranges
        .into_par_iter()
        .map(|range| {
            let n = range.len() as u64;
            let records = Block::new(DAG_CBOR, records::pack(&rows.records[range.clone()]));
            let vectors = Block::new(
                RAW,
                vectors::encode(&rows.vectors[range.start * dims..range.end * dims]),
            );
            ((records, n), (vectors, n))
        })
        .unzip();

    let mut blocks = Vec::new();
    let mut collection = |chunk_blocks: Vec<(Block, u64)>| -> Result<tree::Collection> {
        let links: Vec<(Cid, u64)> = chunk_blocks.iter().map(|(b, n)| (b.cid, *n)).collect();
        let (nodes, collection) = tree::build(&links, options.max_links)?;
        blocks.extend(nodes);
        blocks.extend(chunk_blocks.into_iter().map(|(b, _)| b));
        Ok(collection)
    };

    let records = collection(record_chunks)?;
    let vectors = Vectors {
        rows_per_chunk: None,
        chunks: collection(vector_chunks)?,
    };
    let index_chunks = index_bytes
        .chunks(INDEX_CHUNK_SIZE as usize)
        .map(|c| (Block::new(RAW, c.to_vec()), c.len() as u64))
        .collect();
    let index = IndexInfo {
        engine: "usearch".into(),
        engine_version: usearch::version().into(),
        params: options.params,
        chunks: collection(index_chunks)?,
    };
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        count: rows.len() as u64,
        dimensions: dims as u64,
        fields: options.fields.clone(),
        records,
        vectors,
        index,
    };
    let manifest = Block::dag_cbor(&manifest)?;
    let root = manifest.cid;
    let mut seen = HashSet::new();
    let blocks = std::iter::once(manifest)
        .chain(blocks)
        .filter(|b| seen.insert(b.cid))
        .collect();
    Ok(Assembled { root, blocks })
}

/// Writes the assembled archive as a CARv1 to `out`.
pub fn write_car(archive: &Assembled, out: impl Write) -> Result<()> {
    let bar = progress::bar(archive.blocks.len() as u64, "write", "blocks");
    let mut car = CarWriter::new(out, &archive.root)?;
    for block in &archive.blocks {
        car.write(block)?;
        bar.inc(1);
    }
    car.finish()?;
    bar.finish_and_clear();
    Ok(())
}
