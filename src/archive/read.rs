//! Reading an archive: the manifest, the chunk lists, and verified records, vectors and index.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cid::Cid;
use memmap2::MmapMut;
use rayon::prelude::*;

use super::block::DAG_CBOR;
use super::car::CarFile;
use super::manifest::Manifest;
use super::source::{BlockSource, Blocks};
use super::tree::{ChunkList, Collection, LazyList, Reach, Wanted};
use crate::input::Record;
use partitions::partition_starts;

mod by_row;
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
    /// Record chunks, items are rows: listed at open, or leaf by leaf ([`EAGER_LEAVES`]).
    pub records: LazyList,
    /// Vector chunks, items are rows: listed at open, or leaf by leaf ([`EAGER_LEAVES`]).
    pub vectors: LazyList,
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

/// The most bytes of records and vectors leaves (the link nodes that link chunks:
/// [`LEAF_LINK_BYTES`] a chunk of about 16 rows) a remote archive's opening reads (a file's
/// reads none: [`Archive::from_car`]); above it, they are read as rows are asked for
/// ([`LazyList`]), so a query reads only those its rows are under. Read at open, a cold query
/// over the network waits for them with the other link nodes; read lazily, it waits one round
/// trip more (the candidates' leaves, before their chunks), and every walk over all rows reads
/// them all then. Lazily, a query saves the leaves' bytes less its own (5.4 MB less 2.5 MB at 1M
/// rows) for one round trip: on a link of round trip r and bandwidth b that pays once the saving
/// passes r·b (2.5 MB at 20 ms and 1 Gbit/s), and through a gateway adding 20 ms a request (no
/// bandwidth limit) the 1M archive's cold query took 0.184 s lazily against 0.174 s read at open
/// (median of 15, bench/leaves.py). So the line is drawn just above the 1M archive's leaves,
/// which keeps its cold query at five round trips: lazily from about 1.17M rows.
pub const EAGER_LEAVES: u64 = 6 << 20;
/// Bytes a link takes in a leaf as vecar writes it: a CID of 36 bytes, 6 of CBOR heads, a count
/// below 24.
const LEAF_LINK_BYTES: u64 = 43;
/// Sets the line otherwise, in bytes, for every source (hidden: for tests and measurements; 0
/// reads every archive's leaves lazily, 18446744073709551615 every one's at open).
const EAGER_LEAVES_VAR: &str = "VECAR_EAGER_LEAVES";

/// How far opening reads the records and vectors trees: to their chunks when their leaves
/// come to at most `most` bytes (by the manifest's count of chunks; [`EAGER_LEAVES_VAR`] says
/// otherwise), else to their leaves.
fn rows_reach(manifest: &Manifest, most: u64) -> Reach {
    let var = std::env::var(EAGER_LEAVES_VAR).ok();
    let most = var.and_then(|v| v.parse().ok()).unwrap_or(most);
    let links = manifest.records.chunks.saturating_add(manifest.vectors.chunks.chunks);
    if links.saturating_mul(LEAF_LINK_BYTES) > most {
        Reach::Leaves
    } else {
        Reach::Chunks
    }
}

/// The collections opening reads, in order (records, vectors, index, and a partitioned index's
/// codes and row lists), the records and vectors to `rows`.
fn collections(manifest: &Manifest, ahead: Ahead, rows: Reach) -> Vec<Wanted<'_>> {
    let collection = |collection, what, chunks_too, reach| Wanted {
        collection,
        what,
        chunks_too,
        reach,
    };
    // A root is read at open whatever `rows` says: a tree of one level is read whole.
    let rows_of = |c: &Collection| if c.height > 1 { rows } else { Reach::Chunks };
    let (records, vectors) = (&manifest.records, &manifest.vectors.chunks);
    let mut wanted = vec![
        collection(records, "records", false, rows_of(records)),
        collection(vectors, "vectors", false, rows_of(vectors)),
        // A partitioned index's chunks are its centroids (√n rows, ~0.1% of the archive),
        // which every query reads first: asked for with the other collections' link nodes,
        // they come over the network in the same round trip, not one later.
        collection(
            &manifest.index.chunks,
            "index",
            ahead == Ahead::Centroids && manifest.index.partitions.is_some(),
            Reach::Chunks,
        ),
    ];
    if let Some(p) = &manifest.index.partitions {
        wanted.push(collection(&p.chunks, "partitions", false, Reach::Chunks));
        let rows = p.rows.iter();
        wanted.extend(rows.map(|rows| collection(rows, "partition rows", false, Reach::Chunks)));
    }
    wanted
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
        // A file's blocks are read when asked for: there is nothing to ask for ahead, and no
        // round trip to save by reading every leaf at open. Read as needed, a cold query on
        // the 1M-row archive took 7.3-7.8 ms of CPU instead of 16.1-17.4, 1,700 page faults
        // instead of 3,570 (perf stat task-clock, 2 sets of 21 alternated, load 9-10).
        Archive::open_source(car, root, Ahead::Nothing, 0)
    }

    /// Reads the manifest `root` and the link nodes from `source` (the records and vectors
    /// leaves only up to [`EAGER_LEAVES`]), and asks for what `ahead` says.
    pub fn from_source(source: Arc<dyn BlockSource>, root: Cid, ahead: Ahead) -> Result<Archive> {
        Archive::open_source(source, root, ahead, EAGER_LEAVES)
    }

    /// [`Archive::from_source`], reading the records and vectors leaves at open when they come
    /// to at most `eager_leaves` bytes.
    fn open_source(source: Arc<dyn BlockSource>, root: Cid, ahead: Ahead, eager_leaves: u64) -> Result<Archive> {
        let blocks = Blocks::new(source);
        let name = blocks.name().to_string();
        let manifest = Manifest::decode(&blocks.get(&root)?).with_context(|| name.clone())?;
        manifest.check(blocks.size()).with_context(|| name.clone())?;
        let rows = rows_reach(&manifest, eager_leaves);
        let wanted = collections(&manifest, ahead, rows);
        let mut lists = ChunkList::load_all(&blocks, &wanted)?.into_iter().zip(&wanted);
        let mut row_list = || {
            let (list, wanted) = lists.next().expect("records and vectors are wanted");
            match wanted.reach {
                Reach::Chunks => LazyList::whole(list, wanted),
                Reach::Leaves => LazyList::leaves(list, wanted),
            }
        };
        let (records, vectors) = (row_list(), row_list());
        let mut next = || lists.next().map(|(list, _)| list).unwrap_or_default();
        let (index, partitions, partition_rows) = (next(), next(), next());
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
    /// and chunks (every leaf read).
    pub fn block_count(&self) -> Result<u64> {
        self.read_row_lists()?;
        let mut cids = std::collections::HashSet::from([self.root]);
        for list in [
            self.records_list()?,
            self.vectors_list()?,
            &self.index,
            &self.partitions,
            &self.partition_rows,
        ] {
            cids.extend(list.nodes.iter().chain(list.chunks.iter().map(|c| &c.cid)));
        }
        Ok(cids.len() as u64)
    }

    /// The archive's name for messages: its source's.
    pub fn name(&self) -> &str {
        self.blocks.name()
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
