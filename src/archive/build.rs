//! Building an archive: JSONL documents in, index built, blocks chunked and hashed, CAR out.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{anyhow, bail, Result};
use cid::Cid;
use rayon::prelude::*;
use serde_json::Value;

use super::block::{Block, DAG_CBOR, MAX_BLOCK_SIZE, RAW};
use super::car::CarWriter;
use super::manifest::{
    rows_per_chunk, Fields, IndexInfo, Manifest, Vectors, FORMAT_NAME, FORMAT_VERSION, INDEX_CHUNK_SIZE,
};
use super::records;
use super::tree;
use super::vectors;
use crate::index::{hnsw, IndexParams};
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
    /// Threads for indexing (1 gives a reproducible index).
    pub threads: usize,
    /// Links per link node.
    pub max_links: usize,
}

/// Parsed input: encoded records and their vectors, in input order.
pub struct Docs {
    /// Each record's DAG-CBOR encoding.
    pub records: Vec<Vec<u8>>,
    /// All vectors, row after row.
    pub vectors: Vec<f32>,
    /// Length of every vector.
    pub dimensions: usize,
}

/// Reads and checks every document: valid JSON objects, ids present and unique, vectors of one
/// length. The first problem is reported with file, line and field.
pub fn read_docs(lines: &mut Lines, fields: &Fields) -> Result<Docs> {
    let bar = progress::counter("parse", "lines");
    let mut docs = Docs {
        records: Vec::new(),
        vectors: Vec::new(),
        dimensions: 0,
    };
    let mut ids = HashSet::new();
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
                let encoded = records::encode(&doc.record).map_err(|e| e.to_string())?;
                Ok::<_, String>((doc, encoded))
            })
            .collect();
        for ((line, _), result) in batch.iter().zip(parsed) {
            let at = |msg: String| anyhow!("{}:{line}: {msg}", lines.name());
            let (doc, encoded) = result.map_err(at)?;
            if doc.vector.len() > MAX_DIMENSIONS {
                let msg = format!(
                    "{} has {} numbers; at most {MAX_DIMENSIONS} fit a block",
                    fields.vector,
                    doc.vector.len()
                );
                return Err(at(msg));
            }
            if docs.dimensions == 0 {
                docs.dimensions = doc.vector.len();
            } else if doc.vector.len() != docs.dimensions {
                let msg = format!(
                    "{} has {} numbers, expected {}",
                    fields.vector,
                    doc.vector.len(),
                    docs.dimensions
                );
                return Err(at(msg));
            }
            let id: &Value = &doc.record[&fields.id];
            if !ids.insert(id.to_string()) {
                return Err(at(format!("duplicate {} {id}", fields.id)));
            }
            docs.records.push(encoded);
            docs.vectors.extend_from_slice(&doc.vector);
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if docs.records.is_empty() {
        bail!("{}: no records (the input is empty or only blank lines)", lines.name());
    }
    Ok(docs)
}

/// A finished archive: its root and its blocks, manifest first, without duplicates.
pub struct Assembled {
    /// The manifest's CID.
    pub root: Cid,
    /// Every block, manifest first.
    pub blocks: Vec<Block>,
}

/// Indexes the documents and chunks everything into blocks.
pub fn assemble(docs: &Docs, options: &BuildOptions) -> Result<Assembled> {
    let dims = docs.dimensions;
    let count = docs.records.len() as u64;
    let bar = progress::bar(count, "index", "vectors");
    let index_bytes = hnsw::build(&docs.vectors, dims, &options.params, options.threads, &bar)?;
    bar.finish_and_clear();

    let mut blocks = Vec::new();
    let mut collection = |chunks: Vec<(Vec<u8>, u64)>, codec: u64| -> Result<tree::Collection> {
        let chunk_blocks: Vec<(Block, u64)> = chunks
            .into_par_iter()
            .map(|(data, n)| (Block::new(codec, data), n))
            .collect();
        let links: Vec<(Cid, u64)> = chunk_blocks.iter().map(|(b, n)| (b.cid, *n)).collect();
        let (nodes, collection) = tree::build(&links, options.max_links)?;
        blocks.extend(nodes);
        blocks.extend(chunk_blocks.into_iter().map(|(b, _)| b));
        Ok(collection)
    };

    let records = collection(records::pack(&docs.records), DAG_CBOR)?;
    let rows = rows_per_chunk(dims as u64) as usize;
    let vector_chunks = docs
        .vectors
        .chunks(rows * dims)
        .map(|c| (vectors::encode(c), (c.len() / dims) as u64))
        .collect();
    let vectors = Vectors {
        rows_per_chunk: rows as u64,
        chunks: collection(vector_chunks, RAW)?,
    };
    let index_chunks = index_bytes
        .chunks(INDEX_CHUNK_SIZE as usize)
        .map(|c| (c.to_vec(), c.len() as u64))
        .collect();
    let index = IndexInfo {
        engine: "usearch".into(),
        engine_version: usearch::version().into(),
        params: options.params,
        chunks: collection(index_chunks, RAW)?,
    };
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        count,
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
