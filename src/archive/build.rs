//! Assembling an archive: rows and a serialized index in, blocks chunked and hashed under a new
//! manifest, CAR out.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::ops::Range;

use anyhow::{Context, Result};
use cid::Cid;
use rayon::prelude::*;

use super::block::{cid_for, Block, DAG_CBOR, RAW};
use super::bytes::ByteSource;
use super::car::CarWriter;
use super::chunking;
use super::manifest::{
    Fields, IndexInfo, Manifest, Partitions, Vectors, FORMAT_NAME, FORMAT_VERSION, INDEX_CHUNK_SIZE,
};
use super::records;
use super::rows::Rows;
use super::tree;
use super::vectors;
use crate::params::{
    partition_code_bytes, EmbeddingInfo, IndexParams, PARTITIONED_ENGINE, PARTITIONED_VERSION, PARTITION_ROW_NUMBER,
};
use crate::progress;

/// What `build` needs besides the input.
pub struct BuildOptions {
    /// Input field names.
    pub fields: Fields,
    /// Index settings.
    pub params: IndexParams,
    /// Links per link node (and at most [`tree::ROW_LEAF_LINKS`] per leaf of the records and
    /// vectors trees).
    pub max_links: usize,
    /// The provider that embedded the texts, if vecar did.
    pub embedding: Option<EmbeddingInfo>,
    /// Version of the index engine (usearch) that wrote the index.
    pub engine_version: String,
}

/// A serialized index and the rows its graph cannot lead a search to.
pub struct IndexBytes {
    /// The serialized index.
    pub bytes: ByteSource,
    /// The rows no search through the graph returns, ascending: the manifest lists them, and
    /// every search takes them as candidates too.
    pub unreachable: Vec<u64>,
    /// A partitioned index's partitions (then `bytes` are its centroids).
    pub partitions: Option<PartitionBlocks>,
}

/// The partitions of a partitioned index, ready to write.
pub struct PartitionBlocks {
    /// Rows in each partition.
    pub sizes: Vec<u64>,
    /// The row lists' chunks, partition after partition.
    pub rows: Vec<Vec<u8>>,
    /// The codes' chunks, cut at the same rows as `rows`.
    pub codes: Vec<Vec<u8>>,
}

/// Where a block's bytes come from when the archive is written.
enum Content {
    /// A block kept whole: the manifest or a link node.
    Whole(Vec<u8>),
    /// The records chunk of these rows.
    Records(Range<usize>),
    /// The vectors chunk of these rows.
    Vectors(Range<usize>),
    /// This range of the serialized index.
    Index(Range<u64>),
    /// This chunk of a partitioned index's row lists.
    PartitionRows(usize),
    /// This chunk of a partitioned index's codes.
    PartitionCodes(usize),
}

/// A finished archive, ready to write: its root and its blocks in write order, manifest first,
/// without duplicates. Chunks are hashed once here and made again from the rows and the index
/// when written, so a build never holds a second copy of its data.
pub struct Assembled<'a> {
    /// The manifest's CID.
    pub root: Cid,
    /// Number of blocks.
    pub blocks: usize,
    /// Bytes of block data.
    pub bytes: u64,
    contents: Vec<(Cid, Content)>,
    rows: &'a Rows,
    index: &'a IndexBytes,
}

impl Assembled<'_> {
    /// A block's data: borrowed when it is held whole (the manifest, link nodes, partition
    /// chunks), made from the rows or read from the index otherwise.
    fn data<'s>(&'s self, content: &'s Content) -> Result<Cow<'s, [u8]>> {
        let dims = self.rows.dimensions;
        Ok(match content {
            Content::Whole(data) => Cow::Borrowed(data),
            Content::PartitionRows(i) => Cow::Borrowed(&self.partitions().rows[*i]),
            Content::PartitionCodes(i) => Cow::Borrowed(&self.partitions().codes[*i]),
            Content::Records(rows) => Cow::Owned(self.rows.records.pack(rows.clone())?),
            Content::Vectors(rows) => {
                Cow::Owned(vectors::encode(&self.rows.vectors[rows.start * dims..rows.end * dims]))
            }
            Content::Index(range) => {
                let mut data = vec![0; (range.end - range.start) as usize];
                self.index
                    .bytes
                    .read_at(range.start, &mut data)
                    .context("reading the serialized index")?;
                Cow::Owned(data)
            }
        })
    }

    /// The partitions of a partitioned index, which a partition chunk comes from.
    fn partitions(&self) -> &PartitionBlocks {
        (self.index.partitions.as_ref()).expect("a partition chunk comes from a partitioned index")
    }
}

/// Chunks the rows and the serialized index into blocks under a new manifest, hashing every
/// chunk in parallel.
pub fn assemble<'a>(rows: &'a Rows, built: &'a IndexBytes, options: &BuildOptions) -> Result<Assembled<'a>> {
    let sizes: Vec<usize> = (0..rows.len()).map(|row| rows.records.size(row)).collect();
    let ranges = chunking::chunk_rows(&rows.ends, &sizes, rows.dimensions);
    let index_ranges = index_ranges(built.bytes.size()?);
    let mut archive = Assembled {
        root: Cid::default(),
        blocks: 0,
        bytes: 0,
        contents: Vec::new(),
        rows,
        index: built,
    };
    let records = ranges.iter().cloned().map(Content::Records).collect();
    let record_chunks = archive.hash_chunks(records, DAG_CBOR)?;
    let vector_chunks = archive.hash_chunks(ranges.into_iter().map(Content::Vectors).collect(), RAW)?;
    let index_chunks = archive.hash_chunks(index_ranges.into_iter().map(Content::Index).collect(), RAW)?;

    let mut blocks = Vec::new();
    let mut collection = |chunks: Vec<(Cid, u64, Content)>, leaf_links: usize| -> Result<tree::Collection> {
        let links: Vec<(Cid, u64)> = chunks.iter().map(|(cid, n, _)| (*cid, *n)).collect();
        let (nodes, collection) = tree::build(&links, leaf_links, options.max_links)?;
        blocks.extend(nodes.into_iter().map(|b| (b.cid, Content::Whole(b.data))));
        blocks.extend(chunks.into_iter().map(|(cid, _, content)| (cid, content)));
        Ok(collection)
    };
    let row_leaves = options.max_links.min(tree::ROW_LEAF_LINKS);
    let records = collection(record_chunks, row_leaves)?;
    let vectors = Vectors {
        rows_per_chunk: None,
        chunks: collection(vector_chunks, row_leaves)?,
    };
    let index_collection = collection(index_chunks, options.max_links)?;
    let index = archive.index_info(index_collection, options, &mut collection)?;
    let manifest = Block::dag_cbor(&Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        count: rows.len() as u64,
        dimensions: rows.dimensions as u64,
        fields: options.fields.clone(),
        records,
        vectors,
        index,
        embedding: options.embedding.clone(),
    })?;
    archive.set_blocks(manifest, blocks);
    Ok(archive)
}

/// The ranges of the serialized index's chunks, for an index of `len` bytes.
fn index_ranges(len: u64) -> Vec<Range<u64>> {
    (0..len)
        .step_by(INDEX_CHUNK_SIZE as usize)
        .map(|start| start..(start + INDEX_CHUNK_SIZE).min(len))
        .collect()
}

impl Assembled<'_> {
    /// The manifest's index entry: the engine, its settings, the index's `chunks` and, for a
    /// partitioned index, its partitions, hashed here and added by `collection` after the chunks.
    fn index_info(
        &self,
        chunks: tree::Collection,
        options: &BuildOptions,
        collection: &mut impl FnMut(Vec<(Cid, u64, Content)>, usize) -> Result<tree::Collection>,
    ) -> Result<IndexInfo> {
        let (engine, engine_version, partitions) = match &self.index.partitions {
            None => ("usearch", options.engine_version.as_str(), None),
            Some(p) => {
                let rows = (0..p.rows.len()).map(Content::PartitionRows).collect();
                let codes = (0..p.codes.len()).map(Content::PartitionCodes).collect();
                let partitions = Partitions {
                    sizes: p.sizes.clone(),
                    rows: Some(collection(self.hash_chunks(rows, RAW)?, options.max_links)?),
                    chunks: collection(self.hash_chunks(codes, RAW)?, options.max_links)?,
                };
                (PARTITIONED_ENGINE, PARTITIONED_VERSION, Some(partitions))
            }
        };
        Ok(IndexInfo {
            engine: engine.into(),
            engine_version: engine_version.into(),
            params: options.params,
            chunks,
            unreachable: self.index.unreachable.clone(),
            partitions,
        })
    }

    /// Makes and hashes each chunk of `contents` in parallel: its CID under `codec`, the number of
    /// items it holds (rows, or bytes of the index) and its content, in the order given.
    fn hash_chunks(&self, contents: Vec<Content>, codec: u64) -> Result<Vec<(Cid, u64, Content)>> {
        let code_bytes = partition_code_bytes(self.rows.dimensions);
        contents
            .into_par_iter()
            .map(|content| {
                let data = self.data(&content)?;
                let items = match &content {
                    Content::Records(r) | Content::Vectors(r) => r.len() as u64,
                    Content::PartitionRows(_) => (data.len() / PARTITION_ROW_NUMBER) as u64,
                    Content::PartitionCodes(_) => (data.len() / code_bytes) as u64,
                    _ => data.len() as u64,
                };
                Ok((cid_for(codec, &data), items, content))
            })
            .collect()
    }

    /// Sets the root to `manifest` and the blocks to write: the manifest, then `blocks` in order,
    /// each CID once.
    fn set_blocks(&mut self, manifest: Block, blocks: Vec<(Cid, Content)>) {
        self.root = manifest.cid;
        let mut seen = HashSet::new();
        self.contents = std::iter::once((manifest.cid, Content::Whole(manifest.data)))
            .chain(blocks)
            .filter(|(cid, _)| seen.insert(*cid))
            .collect();
        self.blocks = self.contents.len();
        self.bytes = self.contents.iter().map(|(_, c)| self.content_len(c)).sum();
    }
}

impl Assembled<'_> {
    /// Bytes of a block's data, without making it.
    fn content_len(&self, content: &Content) -> u64 {
        let rows = self.rows;
        match content {
            Content::Whole(data) => data.len() as u64,
            Content::Records(r) => {
                let records: usize = r.clone().map(|row| rows.records.size(row)).sum();
                (records::packed_header(r.len() as u64).len() + records) as u64
            }
            Content::Vectors(r) => (r.len() * rows.dimensions * 4) as u64,
            Content::Index(r) => r.end - r.start,
            Content::PartitionRows(i) => self.partitions().rows[*i].len() as u64,
            Content::PartitionCodes(i) => self.partitions().codes[*i].len() as u64,
        }
    }
}

/// Which CAR format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarVersion {
    /// Plain CARv1: a header and the blocks.
    V1,
    /// CARv2: the same CARv1 inside, followed by an index of where each block is.
    V2,
}

/// Writes the assembled archive to `out` as a CAR of the given version.
pub fn write_car(archive: &Assembled, out: impl Write, version: CarVersion) -> Result<()> {
    let bar = progress::bar(archive.blocks as u64, "write", "blocks");
    let mut car = match version {
        CarVersion::V1 => CarWriter::new(out, &archive.root)?,
        CarVersion::V2 => {
            let sizes = archive.contents.iter();
            let sizes = sizes.map(|(cid, content)| (*cid, archive.content_len(content)));
            CarWriter::with_index(out, &archive.root, sizes)?
        }
    };
    for (cid, content) in &archive.contents {
        car.write(cid, &archive.data(content)?)?;
        bar.inc(1);
    }
    car.finish()?;
    bar.finish_and_clear();
    Ok(())
}
