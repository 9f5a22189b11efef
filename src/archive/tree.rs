//! Chunked collections: an ordered list of chunk blocks reached through a tree of link nodes.
//!
//! A link node is a DAG-CBOR array of `[link, count]` pairs, where `count` is how many items
//! (rows or bytes) lie under the link. A collection whose chunks do not fit one node gets
//! further levels of link nodes, so no node passes the block size limit.

use anyhow::{bail, ensure, Context, Result};
use cid::Cid;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use cid::multihash::Multihash;

use super::block::{decode_dag_cbor, read_head, Block, DAG_CBOR, RAW, SHA2_256};
use super::source::Blocks;

mod lazy;
pub use lazy::LazyList;

/// Links per node by default: 16,384 pairs of at most 51 bytes stay under 1 MiB.
pub const DEFAULT_MAX_LINKS: usize = 16_384;
/// Links per leaf (a link node whose links are chunks) of the records and vectors trees: about
/// 88 KB and 32,000 rows, so a query that reads the leaves of its ~20 candidate rows (a
/// [`LazyList`]) reads ~3.4 MB of them at 10M rows, not the 54 MB of every leaf. Smaller leaves
/// cost a reader that takes every leaf one request each: at 1M rows (62,500 chunks a tree), read
/// at open through a gateway adding 20 ms a request, a cold query took 0.174 s with these (62
/// leaves, 174 requests), 0.189 s with leaves of 1,024 links (124, 236), 0.318 s with 256 (492,
/// 612), and 0.170 s with the old 16,384 (8, 120); median of 15, load 1.2, bench/leaves.py.
pub const ROW_LEAF_LINKS: usize = 2048;
/// Deepest tree accepted when reading (16,384⁸ chunks is more than any file holds).
const MAX_HEIGHT: u64 = 8;

/// A collection as the manifest names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// The top link node.
    pub root: Cid,
    /// Levels of link nodes above the chunks (1: the root links to the chunks).
    pub height: u64,
    /// Number of chunk blocks.
    pub chunks: u64,
    /// Number of items (rows or bytes) in all chunks.
    pub items: u64,
}

/// One chunk of a collection, with the range of items it holds.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// The chunk block.
    pub cid: Cid,
    /// Index of its first item in the collection.
    pub start: u64,
    /// Number of items it holds.
    pub count: u64,
}

/// Builds the link nodes over `chunks` (each a CID and its item count): `leaf_links` per leaf
/// (the nodes linking the chunks), `max_links` per node above. Returns the nodes, top level
/// first, and the collection entry for the manifest.
pub fn build(chunks: &[(Cid, u64)], leaf_links: usize, max_links: usize) -> Result<(Vec<Block>, Collection)> {
    ensure!(
        leaf_links >= 2 && max_links >= 2,
        "a link node needs room for at least 2 links"
    );
    ensure!(!chunks.is_empty(), "a collection needs at least one chunk");
    let mut levels: Vec<Vec<Block>> = Vec::new();
    let mut entries = chunks.to_vec();
    loop {
        let mut nodes = Vec::new();
        let mut next = Vec::new();
        let links = if levels.is_empty() { leaf_links } else { max_links };
        for group in entries.chunks(links) {
            let node = Block::dag_cbor(&group)?;
            next.push((node.cid, group.iter().map(|e| e.1).sum()));
            nodes.push(node);
        }
        levels.push(nodes);
        entries = next;
        if entries.len() <= 1 {
            break;
        }
    }
    let collection = Collection {
        root: entries[0].0,
        height: levels.len() as u64,
        chunks: chunks.len() as u64,
        items: chunks.iter().map(|e| e.1).sum(),
    };
    Ok((levels.into_iter().rev().flatten().collect(), collection))
}

/// A collection read from a CAR: its chunks in order, and the link nodes that list them.
#[derive(Default)]
pub struct ChunkList {
    /// The chunks in order.
    pub chunks: Vec<Chunk>,
    /// The link nodes, top level first.
    pub nodes: Vec<Cid>,
}

/// How far down its tree [`ChunkList::load_all`] reads a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every link node: the list is the chunks.
    Chunks,
    /// The link nodes above the leaves: the list is the leaves (the nodes that link chunks),
    /// each with the items under it, for a [`LazyList`] to read as rows are asked for.
    Leaves,
}

/// A collection to read with [`ChunkList::load_all`].
pub struct Wanted<'a> {
    /// The collection, as the manifest names it.
    pub collection: &'a Collection,
    /// What it holds, for messages ("records").
    pub what: &'a str,
    /// Ask for its chunks together with the next level of the others' link nodes (the
    /// centroids of a partitioned index, which every query reads first).
    pub chunks_too: bool,
    /// How far down to read.
    pub reach: Reach,
}

impl Wanted<'_> {
    /// The depth `load_all` stops at: the chunks, or the leaves one level above them.
    fn depth(&self) -> u64 {
        match self.reach {
            Reach::Chunks => self.collection.height,
            Reach::Leaves => self.collection.height - 1,
        }
    }
}

/// A collection part way down its tree: the entries of the level reached so far.
struct Descent {
    level: Vec<Chunk>,
    nodes: Vec<Cid>,
    depth: u64,
}

impl ChunkList {
    /// Reads and checks the link nodes of each of `wanted`: every node verified, every count
    /// consistent with its parent's, the totals equal to what the manifest says. The trees are
    /// read a level at a time, each level's nodes of every collection asked of the source at
    /// once, so a source over the network takes one round trip a level, however many
    /// collections there are. Of several errors, the first level's first collection's is given.
    pub fn load_all(blocks: &Blocks, wanted: &[Wanted]) -> Result<Vec<ChunkList>> {
        let mut descents = wanted
            .iter()
            .map(|w| Descent::start(blocks.name(), w))
            .collect::<Result<Vec<_>>>()?;
        let below = |w: &Wanted, d: &Descent| d.depth < w.depth();
        // Chunks of finished collections to ask for with the next level.
        let mut ahead: Vec<Cid> = Vec::new();
        while wanted.iter().zip(&descents).any(|(w, d)| below(w, d)) {
            let going: Vec<bool> = wanted.iter().zip(&descents).map(|(w, d)| below(w, d)).collect();
            let levels = descents.iter().zip(&going).filter(|(_, &going)| going);
            let asked: Vec<&Cid> = levels.flat_map(|(d, _)| &d.level).map(|c| &c.cid).collect();
            blocks.prefetch(asked.into_iter().chain(&ahead));
            ahead.clear();
            let moved = descents
                .par_iter_mut()
                .zip(wanted)
                .zip(&going)
                .filter(|(_, &going)| going)
                .map(|((d, w), _)| d.descend(blocks, w))
                .collect::<Vec<Result<()>>>();
            moved.into_iter().collect::<Result<()>>()?;
            for ((w, d), was) in wanted.iter().zip(&descents).zip(going) {
                if w.chunks_too && was && !below(w, d) {
                    ahead.extend(d.level.iter().map(|c| c.cid));
                }
            }
        }
        blocks.prefetch(&ahead);
        let lists = wanted.iter().zip(descents);
        lists.map(|(w, d)| d.finish(blocks.name(), w)).collect()
    }

    /// Index of the chunk holding item `item`.
    pub fn find(&self, item: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.start + c.count <= item);
        (i < self.chunks.len()).then_some(i)
    }
}

impl Descent {
    /// The top of `wanted`'s tree, refused if its height is out of bounds.
    fn start(name: &str, wanted: &Wanted) -> Result<Descent> {
        let collection = wanted.collection;
        if collection.height == 0 || collection.height > MAX_HEIGHT {
            bail!(
                "{name}: {} tree has height {}; expected 1 to {MAX_HEIGHT}",
                wanted.what,
                collection.height
            );
        }
        let top = Chunk {
            cid: collection.root,
            start: 0,
            count: collection.items,
        };
        Ok(Descent {
            level: vec![top],
            nodes: Vec::new(),
            depth: 0,
        })
    }

    /// The list of chunks (or leaves) reached, refused unless a list of chunks holds as many as
    /// the manifest says.
    fn finish(self, name: &str, wanted: &Wanted) -> Result<ChunkList> {
        if wanted.reach == Reach::Chunks && self.level.len() as u64 != wanted.collection.chunks {
            bail!(
                "{name}: {} has {} chunks; the manifest says {}",
                wanted.what,
                self.level.len(),
                wanted.collection.chunks
            );
        }
        Ok(ChunkList {
            chunks: self.level,
            nodes: self.nodes,
        })
    }

    /// Reads the nodes of the level reached and moves one level down, checking each node's
    /// entries against its parent's count and the manifest's number of chunks.
    fn descend(&mut self, blocks: &Blocks, wanted: &Wanted) -> Result<()> {
        let (name, collection) = (blocks.name(), wanted.collection);
        let data = read_level(blocks, &self.level)?;
        // Sized once, by what the nodes can hold, in huge pages: a 1M-row archive's 62,500
        // chunks copied or grown by doubling cost more in page faults than in decoding.
        let most = data.iter().map(|d| d.len() / MIN_LINK_BYTES).sum::<usize>();
        let mut next = crate::memory::with_capacity(most.min(collection.chunks as usize));
        for (node, data) in self.level.iter().zip(&data) {
            let first = next.len();
            decode_checked(name, wanted, node, data, &mut next)?;
            check_entries(name, wanted, node, &next[first..], next.len())?;
        }
        self.nodes.extend(self.level.iter().map(|node| node.cid));
        self.level = next;
        self.depth += 1;
        Ok(())
    }
}

/// Appends the links of the verified link node `node`, whose bytes are `data`, to `out`; an
/// error naming the node if it is not one.
fn decode_checked(name: &str, wanted: &Wanted, node: &Chunk, data: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
    decode_node(data, out).with_context(|| format!("{name}: {} link node {} is malformed", wanted.what, node.cid))
}

/// Checks the `entries` of the link node `node`: at least one, none empty, their counts adding
/// up to the node's, and `so_far` (the entries of its level up to them) no more than the
/// manifest's chunks.
fn check_entries(name: &str, wanted: &Wanted, node: &Chunk, entries: &[Chunk], so_far: usize) -> Result<()> {
    let (what, chunks) = (wanted.what, wanted.collection.chunks);
    let sum = entries.iter().try_fold(0u64, |acc, e| acc.checked_add(e.count));
    if entries.is_empty() || sum != Some(node.count) {
        bail!(
            "{name}: {what} link node {} holds {} items; its parent says {}",
            node.cid,
            sum.map_or("too many".into(), |n| n.to_string()),
            node.count
        );
    }
    if so_far as u64 > chunks || entries.iter().any(|e| e.count == 0) {
        bail!("{name}: {what} tree does not match the manifest's {chunks} chunks");
    }
    Ok(())
}

/// The verified bytes of each node of `level`, read and hashed in parallel.
fn read_level(blocks: &Blocks, level: &[Chunk]) -> Result<Vec<Vec<u8>>> {
    let data: Vec<Result<Vec<u8>>> = level.par_iter().map(|node| blocks.get(&node.cid)).collect();
    // The first failure in order, whichever thread met it first.
    data.into_iter().collect()
}

/// Appends the links of the link node `data` to `out`, each starting where the one before it
/// ends.
fn decode_node(data: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
    let first = out.len();
    if decode_links(data, out) {
        return Ok(());
    }
    out.truncate(first);
    let links: Vec<(Cid, u64)> = decode_dag_cbor(data)?;
    for (cid, count) in links {
        push_link(out, cid, count);
    }
    Ok(())
}

/// Appends the chunk `cid` of `count` items to `out`, starting where the last one ends.
fn push_link(out: &mut Vec<Chunk>, cid: Cid, count: u64) {
    let start = out.last().map_or(0, |c| c.start.saturating_add(c.count));
    out.push(Chunk { cid, start, count });
}

/// The fewest bytes one link takes in a node (a CIDv1 with a 32-byte digest and a count).
const MIN_LINK_BYTES: usize = 40;

/// Bytes before the digest of a link as vecar writes it: an array of two, tag 42, 37 bytes
/// (the identity multibase prefix, CIDv1); then the codec, then sha2-256 of 32 bytes.
const LINK_HEAD: [u8; 7] = [0x82, 0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01];

/// Appends the links of a link node written as vecar writes them (shortest heads; CIDv1,
/// sha2-256, raw or dag-cbor links) to `out` without the generic decoder, which took most of
/// the time of opening a 1M-row archive (125,000 links); `false` for any other bytes, which the
/// generic decoder then reads or refuses, so both accept the same nodes.
fn decode_links(data: &[u8], out: &mut Vec<Chunk>) -> bool {
    let mut pos = 0;
    let Some(n) = shortest_head(data, &mut pos, 4) else {
        return false;
    };
    for _ in 0..n {
        let Some(link) = data.get(pos..pos + 42) else {
            return false;
        };
        let codec = link[7] as u64;
        if link[..7] != LINK_HEAD || (codec != RAW && codec != DAG_CBOR) || link[8..10] != [0x12, 0x20] {
            return false;
        }
        let Ok(hash) = Multihash::wrap(SHA2_256, &link[10..]) else {
            return false;
        };
        pos += 42;
        let Some(count) = shortest_head(data, &mut pos, 0) else {
            return false;
        };
        push_link(out, Cid::new_v1(codec, hash), count);
    }
    pos == data.len()
}

/// The argument of the CBOR head at `pos` ([`read_head`]) if its major type is `major` and it
/// is written in the fewest bytes (as DAG-CBOR requires); moves `pos` past it.
fn shortest_head(data: &[u8], pos: &mut usize, major: u8) -> Option<u64> {
    let start = *pos;
    let (kind, value) = read_head(data, pos).ok()?;
    let least = match *pos - start {
        1 => 0,
        2 => 24,
        3 => 1 << 8,
        5 => 1 << 16,
        _ => 1 << 32,
    };
    (kind == major && value >= least).then_some(value)
}

#[cfg(test)]
mod tests;
