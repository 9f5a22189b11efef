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

/// Links per node by default: 16,384 pairs of at most 51 bytes stay under 1 MiB.
pub const DEFAULT_MAX_LINKS: usize = 16_384;
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

/// Builds the link nodes over `chunks` (each a CID and its item count), `max_links` per node.
/// Returns the nodes, top level first, and the collection entry for the manifest.
pub fn build(chunks: &[(Cid, u64)], max_links: usize) -> Result<(Vec<Block>, Collection)> {
    ensure!(max_links >= 2, "a link node needs room for at least 2 links");
    ensure!(!chunks.is_empty(), "a collection needs at least one chunk");
    let mut levels: Vec<Vec<Block>> = Vec::new();
    let mut entries = chunks.to_vec();
    loop {
        let mut nodes = Vec::new();
        let mut next = Vec::new();
        for group in entries.chunks(max_links) {
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

impl ChunkList {
    /// Reads and checks the link nodes of `collection`: every node verified, every count
    /// consistent with its parent's, the totals equal to what the manifest says.
    pub fn load(blocks: &Blocks, collection: &Collection, what: &str) -> Result<ChunkList> {
        let name = blocks.name();
        if collection.height == 0 || collection.height > MAX_HEIGHT {
            bail!(
                "{name}: {what} tree has height {}; expected 1 to {MAX_HEIGHT}",
                collection.height
            );
        }
        let mut level = vec![Chunk {
            cid: collection.root,
            start: 0,
            count: collection.items,
        }];
        let mut nodes = Vec::new();
        for _ in 0..collection.height {
            let data = Self::read_level(blocks, &level)?;
            // Sized once, by what the nodes can hold: a 1M-row archive's 62,500 chunks copied or
            // grown by doubling cost more in page faults than in decoding.
            let most = data.iter().map(|d| d.len() / MIN_LINK_BYTES).sum::<usize>();
            let mut next = Vec::with_capacity(most.min(collection.chunks as usize));
            for (node, data) in level.iter().zip(&data) {
                let first = next.len();
                decode_node(data, &mut next)
                    .with_context(|| format!("{name}: {what} link node {} is malformed", node.cid))?;
                let entries = &next[first..];
                let sum = entries.iter().try_fold(0u64, |acc, e| acc.checked_add(e.count));
                if entries.is_empty() || sum != Some(node.count) {
                    bail!(
                        "{name}: {what} link node {} holds {} items; its parent says {}",
                        node.cid,
                        sum.map_or("too many".into(), |n| n.to_string()),
                        node.count
                    );
                }
                if next.len() as u64 > collection.chunks || entries.iter().any(|e| e.count == 0) {
                    bail!(
                        "{name}: {what} tree does not match the manifest's {} chunks",
                        collection.chunks
                    );
                }
            }
            nodes.extend(level.iter().map(|node| node.cid));
            level = next;
        }
        if level.len() as u64 != collection.chunks {
            bail!(
                "{name}: {what} has {} chunks; the manifest says {}",
                level.len(),
                collection.chunks
            );
        }
        Ok(ChunkList { chunks: level, nodes })
    }

    /// The verified bytes of each node of `level`, read and hashed in parallel.
    fn read_level(blocks: &Blocks, level: &[Chunk]) -> Result<Vec<Vec<u8>>> {
        blocks.prefetch(level.iter().map(|node| &node.cid));
        let data: Vec<Result<Vec<u8>>> = level.par_iter().map(|node| blocks.get(&node.cid)).collect();
        // The first failure in order, whichever thread met it first.
        data.into_iter().collect()
    }

    /// Index of the chunk holding item `item`.
    pub fn find(&self, item: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.start + c.count <= item);
        (i < self.chunks.len()).then_some(i)
    }
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
mod tests {
    use super::*;
    use crate::cids::cid_for;

    /// The links of a node as the generic decoder reads them, with their starts.
    fn generic(data: &[u8]) -> Vec<(Cid, u64, u64)> {
        let mut out = Vec::new();
        for (cid, count) in decode_dag_cbor::<Vec<(Cid, u64)>>(data).unwrap() {
            push_link(&mut out, cid, count);
        }
        out.into_iter().map(|c| (c.cid, c.start, c.count)).collect()
    }

    #[test]
    fn the_fast_link_decoder_reads_what_the_generic_one_reads() {
        // Counts at every CBOR head width, both codecs.
        let counts = [1u64, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, u64::MAX >> 8];
        let links: Vec<(Cid, u64)> = counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (cid_for(if i % 2 == 0 { RAW } else { DAG_CBOR }, &[i as u8]), n))
            .collect();
        let node = Block::dag_cbor(&links).unwrap().data;
        let mut fast = Vec::new();
        assert!(decode_links(&node, &mut fast));
        let fast: Vec<_> = fast.into_iter().map(|c| (c.cid, c.start, c.count)).collect();
        assert_eq!(fast, generic(&node));

        // Anything else is left to the generic decoder: a count in more bytes than it needs,
        // a trailing byte, a CID of another hash, a cut node.
        let mut long = Block::dag_cbor(&[(cid_for(RAW, b"x"), 1u64)]).unwrap().data;
        assert_eq!(long.pop(), Some(1));
        long.extend([0x18, 1]);
        let mut trailing = node.clone();
        trailing.push(0);
        let other_hash = Block::dag_cbor(&[(Cid::new_v1(RAW, Multihash::wrap(0x13, &[0; 64]).unwrap()), 1u64)])
            .unwrap()
            .data;
        for data in [&long[..], &trailing, &other_hash, &node[..node.len() - 1]] {
            let mut out = vec![];
            assert!(!decode_links(data, &mut out));
        }
        let mut out = Vec::new();
        decode_node(&other_hash, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(decode_node(&trailing, &mut out).is_err());
    }
}
