//! Reading an archive: the manifest, the chunk lists, and verified records, vectors and index.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cid::Cid;
use memmap2::MmapMut;
use rayon::prelude::*;

use super::block::DAG_CBOR;
use super::car::CarFile;
use super::manifest::Manifest;
use super::records;
use super::source::{BlockSource, Blocks};
use super::tree::{ChunkList, Wanted};
use super::vectors;
use crate::input::Record;
use partitions::partition_starts;

mod partitions;

/// How many chunks a walk over every record or vector asks its source for at a time.
pub(super) const PREFETCH_AHEAD: usize = 64;
/// The most numbers reserved ahead of reading them: what a manifest claims is not trusted
/// further than this (a remote source's size is not known).
const MAX_RESERVED: u64 = 1 << 26;

/// An open archive. Opening reads only the manifest and the link nodes; everything else is read,
/// and verified, when asked for.
pub struct Archive {
    /// Where its blocks come from, each verified as it is read.
    pub blocks: Blocks,
    /// The manifest's CID.
    pub root: Cid,
    /// The decoded, checked manifest.
    pub manifest: Manifest,
    /// Record chunks, items are rows.
    pub records: ChunkList,
    /// Vector chunks, items are rows.
    pub vectors: ChunkList,
    /// Index chunks, items are bytes.
    pub index: ChunkList,
    /// A partitioned index's codes chunks, items are rows (none for an HNSW index).
    pub partitions: ChunkList,
    /// A partitioned index's row list chunks, items are rows (none for an HNSW index or a
    /// version 1 partitioned index).
    pub partition_rows: ChunkList,
    /// For each partition, the number of its first chunk, and one past the last partition's.
    partition_starts: Vec<usize>,
}

/// What opening an archive asks its source for besides the manifest and the link nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ahead {
    /// Nothing more: for work that reads no index (`ls`, `info`, `get`, `export`, `diff`).
    Nothing,
    /// A partitioned index's centroids, asked for with the other collections' link nodes: for
    /// work that reads them (a query first of all, which then waits one round trip less; also
    /// `verify` and the updates).
    Centroids,
}

/// A record with the CID of the block that holds it.
pub struct Located {
    /// The record.
    pub record: Record,
    /// The records chunk holding it.
    pub cid: Cid,
}

impl Archive {
    /// Opens the archive in the CAR file at `path` (`-` for standard input).
    pub fn open(path: &Path) -> Result<Archive> {
        Archive::from_car(Arc::new(CarFile::open(path)?))
    }

    /// Opens the archive in the CAR file at `path` and keeps the file at hand, for what only a
    /// CAR has (its sections, its version).
    pub fn open_car(path: &Path) -> Result<(Archive, Arc<CarFile>)> {
        let car = Arc::new(CarFile::open(path)?);
        Ok((Archive::from_car(car.clone())?, car))
    }

    /// Reads the manifest and link nodes of the archive a CAR file holds under its root.
    pub fn from_car(car: Arc<CarFile>) -> Result<Archive> {
        let (name, root) = (car.name(), *car.root());
        if root.codec() != DAG_CBOR {
            bail!("{name}: not a vecar archive (root is a raw block, {root})");
        }
        if car.location(&root)?.is_none() {
            bail!("{name}: not a vecar archive (its root block {root} is not in the file)");
        }
        // A file's blocks are read when asked for: there is nothing to ask for ahead.
        Archive::from_source(car, root, Ahead::Nothing)
    }

    /// Reads the manifest `root` and the link nodes from `source`, and asks for what `ahead`
    /// says.
    pub fn from_source(source: Arc<dyn BlockSource>, root: Cid, ahead: Ahead) -> Result<Archive> {
        let blocks = Blocks::new(source);
        let name = blocks.name().to_string();
        let manifest = Manifest::decode(&blocks.get(&root)?).with_context(|| name.clone())?;
        manifest.check(blocks.size()).with_context(|| name.clone())?;
        let collection = |collection, what, chunks_too| Wanted {
            collection,
            what,
            chunks_too,
        };
        let mut wanted = vec![
            collection(&manifest.records, "records", false),
            collection(&manifest.vectors.chunks, "vectors", false),
            // A partitioned index's chunks are its centroids (√n rows, ~0.1% of the archive),
            // which every query reads first: asked for with the other collections' link nodes,
            // they come over the network in the same round trip, not one later.
            collection(
                &manifest.index.chunks,
                "index",
                ahead == Ahead::Centroids && manifest.index.partitions.is_some(),
            ),
        ];
        if let Some(p) = &manifest.index.partitions {
            wanted.push(collection(&p.chunks, "partitions", false));
            wanted.extend(p.rows.iter().map(|rows| collection(rows, "partition rows", false)));
        }
        let mut lists = ChunkList::load_all(&blocks, &wanted)?.into_iter();
        let mut next = || lists.next().unwrap_or_default();
        let (records, vectors, index, partitions, partition_rows) = (next(), next(), next(), next(), next());
        let partition_starts = match &manifest.index.partitions {
            None => Vec::new(),
            Some(p) => {
                partition_starts(&partitions, &partition_rows, p, manifest.dimensions).with_context(|| name.clone())?
            }
        };
        Ok(Archive {
            blocks,
            root,
            manifest,
            records,
            vectors,
            index,
            partitions,
            partition_rows,
            partition_starts,
        })
    }

    /// `len` zero bytes to read blocks into (in huge pages when large), or an error naming the
    /// archive when the memory cannot be had.
    fn reserve(&self, len: usize) -> Result<Vec<u8>> {
        crate::memory::zeroed(len).with_context(|| format!("{}: cannot reserve {len} bytes", self.name()))
    }

    /// How many blocks the archive is made of: the manifest, and each collection's link nodes
    /// and chunks.
    pub fn block_count(&self) -> u64 {
        let mut cids = std::collections::HashSet::from([self.root]);
        for list in [
            &self.records,
            &self.vectors,
            &self.index,
            &self.partitions,
            &self.partition_rows,
        ] {
            cids.extend(list.nodes.iter().chain(list.chunks.iter().map(|c| &c.cid)));
        }
        cids.len() as u64
    }

    /// The archive's name for messages: its source's.
    pub fn name(&self) -> &str {
        self.blocks.name()
    }

    /// The records of chunk `i`, decoded.
    pub fn record_chunk(&self, i: usize) -> Result<Vec<Record>> {
        let chunk = &self.records.chunks[i];
        records::decode(&self.blocks.get(&chunk.cid)?, chunk.count)
            .with_context(|| format!("{}: records block {}", self.name(), chunk.cid))
    }

    /// Calls `f` with every record and its row number, in row order.
    pub fn for_each_record(&self, mut f: impl FnMut(u64, &Record) -> Result<()>) -> Result<()> {
        for (i, chunk) in self.records.chunks.iter().enumerate() {
            self.prefetch_window(&self.records, i);
            for (offset, record) in self.record_chunk(i)?.iter().enumerate() {
                f(chunk.start + offset as u64, record)?;
            }
        }
        Ok(())
    }

    /// Calls `f` with every row's number, record and vector, in row order.
    pub fn for_each_row(&self, mut f: impl FnMut(u64, &Record, &[f32]) -> Result<()>) -> Result<()> {
        let dims = self.manifest.dimensions as usize;
        let mut loaded: Option<(usize, Vec<f32>)> = None;
        self.for_each_record(|row, record| {
            let i = self.vectors.find(row).context("vectors end before the records")?;
            if loaded.as_ref().map(|l| l.0) != Some(i) {
                self.prefetch_window(&self.vectors, i);
                loaded = Some((i, self.vector_chunk(i)?));
            }
            let (_, chunk) = loaded.as_ref().expect("loaded above");
            let at = (row - self.vectors.chunks[i].start) as usize * dims;
            f(row, record, &chunk[at..at + dims])
        })
    }

    /// At every [`PREFETCH_AHEAD`]th chunk of a walk through `list`, asks the source for the
    /// chunks from `i` on.
    fn prefetch_window(&self, list: &ChunkList, i: usize) {
        if i % PREFETCH_AHEAD == 0 {
            self.blocks
                .prefetch(list.chunks[i..].iter().take(PREFETCH_AHEAD).map(|c| &c.cid));
        }
    }

    /// The vectors of chunk `i`, as one flat array of rows.
    pub fn vector_chunk(&self, i: usize) -> Result<Vec<f32>> {
        let chunk = &self.vectors.chunks[i];
        vectors::decode(&self.blocks.get(&chunk.cid)?, chunk.count, self.manifest.dimensions)
            .with_context(|| format!("{}: vectors block {}", self.name(), chunk.cid))
    }

    /// The verified bytes of vector chunk `i`, checked to be as long as its rows need.
    fn vector_bytes(&self, i: usize) -> Result<Vec<u8>> {
        let chunk = &self.vectors.chunks[i];
        let bytes = self.blocks.get(&chunk.cid)?;
        vectors::check_size(&bytes, chunk.count, self.manifest.dimensions)
            .with_context(|| format!("{}: vectors block {}", self.name(), chunk.cid))?;
        Ok(bytes)
    }

    /// Every vector, in row order.
    pub fn all_vectors(&self) -> Result<Vec<f32>> {
        let claimed = self.manifest.count * self.manifest.dimensions;
        let mut all = Vec::with_capacity(claimed.min(self.blocks.size() / 4).min(MAX_RESERVED) as usize);
        for i in 0..self.vectors.chunks.len() {
            self.prefetch_window(&self.vectors, i);
            all.extend(self.vector_chunk(i)?);
        }
        Ok(all)
    }

    /// The serialized index, every chunk verified (chunks are read and hashed in parallel),
    /// in memory mapped for it with huge pages where the system allows (far fewer page faults
    /// than a heap buffer of hundreds of megabytes).
    pub fn index_bytes(&self) -> Result<MmapMut> {
        let mut bytes = MmapMut::map_anon(self.manifest.index.chunks.items as usize)
            .with_context(|| format!("{}: reserving memory for the index", self.name()))?;
        #[cfg(target_os = "linux")]
        let _ = bytes.advise(memmap2::Advice::HugePage);
        let mut parts = Vec::with_capacity(self.index.chunks.len());
        cut(
            self.index.chunks.iter().map(|c| (&c.cid, c.count as usize)),
            &mut bytes,
            &mut parts,
        );
        self.read_parts(parts)?;
        Ok(bytes)
    }

    /// Reads each block of `parts` into its buffer, which it must fill: all asked of the source
    /// at once, then read and verified in parallel.
    fn read_parts(&self, parts: Vec<(&Cid, &mut [u8])>) -> Result<()> {
        self.blocks.prefetch(parts.iter().map(|(cid, _)| *cid));
        parts
            .into_par_iter()
            .try_for_each(|(cid, part)| self.blocks.get_into(cid, part))
    }

    /// The vectors of the given rows, reading each chunk once.
    pub fn vectors_of(&self, rows: &BTreeSet<u64>) -> Result<HashMap<u64, Vec<f32>>> {
        self.with_vectors(rows, |_, vector| vector.to_vec())
    }

    /// `f(row, vector)` for each of the given rows, reading each chunk once (in parallel) and
    /// dropping it after use, so memory holds results, not vectors. Only the given rows are
    /// decoded (and checked to be finite).
    pub fn with_vectors<T: Send>(
        &self,
        rows: &BTreeSet<u64>,
        f: impl Fn(u64, &[f32]) -> T + Sync,
    ) -> Result<HashMap<u64, T>> {
        let dims = self.manifest.dimensions;
        let width = dims as usize * 4;
        self.gather(&self.vectors, rows, |i, offsets| {
            let bytes = self.vector_bytes(i)?;
            let start = self.vectors.chunks[i].start;
            let vector = |offset: &usize| {
                let row = start + *offset as u64;
                vectors::decode(&bytes[offset * width..(offset + 1) * width], 1, dims)
                    .map(|vector| f(row, &vector))
                    .with_context(|| format!("{}: vector of row {row}", self.name()))
            };
            offsets.iter().map(vector).collect()
        })
    }

    /// Says that the vectors and records of `rows` will be read soon: a source over the network
    /// fetches their chunks together.
    pub fn prefetch_rows(&self, rows: &BTreeSet<u64>) {
        let chunks =
            |list: &'_ ChunkList| -> BTreeSet<usize> { rows.iter().filter_map(|&row| list.find(row)).collect() };
        let (vectors, records) = (chunks(&self.vectors), chunks(&self.records));
        let cids = vectors.into_iter().map(|i| &self.vectors.chunks[i].cid);
        self.blocks
            .prefetch(cids.chain(records.into_iter().map(|i| &self.records.chunks[i].cid)));
    }

    /// The records of the given rows, reading each chunk once and decoding only those rows.
    pub fn records_of(&self, rows: &BTreeSet<u64>) -> Result<HashMap<u64, Located>> {
        self.gather(&self.records, rows, |i, offsets| {
            let chunk = &self.records.chunks[i];
            let records = records::decode_some(&self.blocks.get(&chunk.cid)?, chunk.count, offsets)
                .with_context(|| format!("{}: records block {}", self.name(), chunk.cid))?;
            let located = |record| Located { record, cid: chunk.cid };
            Ok(records.into_iter().map(located).collect())
        })
    }

    /// For each of `rows`, its result from `read(chunk index, offsets in that chunk)`, which
    /// returns one result per offset, in order. Chunks are read once each, in parallel.
    fn gather<T: Send>(
        &self,
        list: &ChunkList,
        rows: &BTreeSet<u64>,
        read: impl Fn(usize, &[usize]) -> Result<Vec<T>> + Sync,
    ) -> Result<HashMap<u64, T>> {
        let mut by_chunk: Vec<(usize, Vec<u64>)> = Vec::new();
        for &row in rows {
            let Some(i) = list.find(row) else {
                bail!("{}: row {row} is past the end of the archive", self.name());
            };
            match by_chunk.last_mut() {
                Some((last, rows)) if *last == i => rows.push(row),
                _ => by_chunk.push((i, vec![row])),
            }
        }
        self.blocks.prefetch(by_chunk.iter().map(|(i, _)| &list.chunks[*i].cid));
        let found: Vec<Vec<(u64, T)>> = by_chunk
            .into_par_iter()
            .map(|(i, rows)| {
                let start = list.chunks[i].start;
                let offsets: Vec<usize> = rows.iter().map(|row| (row - start) as usize).collect();
                Ok(rows.into_iter().zip(read(i, &offsets)?).collect())
            })
            .collect::<Result<_>>()?;
        Ok(found.into_iter().flatten().collect())
    }
}

/// Cuts `buf` into one part for each of `chunks` (a CID and its length in bytes), in order, onto
/// `parts`; the lengths add up to the buffer's (they come from counts the tree load checked).
fn cut<'a>(
    chunks: impl IntoIterator<Item = (&'a Cid, usize)>,
    mut buf: &'a mut [u8],
    parts: &mut Vec<(&'a Cid, &'a mut [u8])>,
) {
    for (cid, len) in chunks {
        let (part, tail) = std::mem::take(&mut buf).split_at_mut(len);
        parts.push((cid, part));
        buf = tail;
    }
}
