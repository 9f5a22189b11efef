//! Chunked collections: an ordered list of chunk blocks reached through a tree of link nodes.
//!
//! A link node is a DAG-CBOR array of `[link, count]` pairs, where `count` is how many items
//! (rows or bytes) lie under the link. A collection whose chunks do not fit one node gets
//! further levels of link nodes, so no node passes the block size limit.

use anyhow::{bail, ensure, Context, Result};
use cid::Cid;
use serde::{Deserialize, Serialize};

use super::block::{decode_dag_cbor, Block};
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
        let mut level = vec![(collection.root, collection.items)];
        let mut nodes = Vec::new();
        for _ in 0..collection.height {
            let mut next = Vec::new();
            blocks.prefetch(level.iter().map(|(cid, _)| cid));
            for (cid, count) in level {
                let entries: Vec<(Cid, u64)> = decode_dag_cbor(&blocks.get(&cid)?)
                    .with_context(|| format!("{name}: {what} link node {cid} is malformed"))?;
                let sum = entries.iter().try_fold(0u64, |acc, e| acc.checked_add(e.1));
                if entries.is_empty() || sum != Some(count) {
                    bail!(
                        "{name}: {what} link node {cid} holds {} items; its parent says {count}",
                        sum.map_or("too many".into(), |n| n.to_string())
                    );
                }
                nodes.push(cid);
                next.extend(entries);
                if next.len() as u64 > collection.chunks || next.iter().any(|e| e.1 == 0) {
                    bail!(
                        "{name}: {what} tree does not match the manifest's {} chunks",
                        collection.chunks
                    );
                }
            }
            level = next;
        }
        if level.len() as u64 != collection.chunks {
            bail!(
                "{name}: {what} has {} chunks; the manifest says {}",
                level.len(),
                collection.chunks
            );
        }
        let mut start = 0;
        let chunks = level
            .into_iter()
            .map(|(cid, count)| {
                let chunk = Chunk { cid, start, count };
                start += count;
                chunk
            })
            .collect();
        Ok(ChunkList { chunks, nodes })
    }

    /// Index of the chunk holding item `item`.
    pub fn find(&self, item: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.start + c.count <= item);
        (i < self.chunks.len()).then_some(i)
    }
}
