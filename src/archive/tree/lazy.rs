//! A collection whose chunk list is read when needed: the link nodes above its leaves (the
//! nodes that link chunks) are read at open, and a leaf when a row under it is first asked for,
//! or every leaf at once for a walk over every row. Each leaf is verified and checked against
//! its parent as an eager read checks it; the manifest's count of chunks is checked once every
//! leaf is read.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Result};
use rayon::prelude::*;

use super::{check_entries, decode_checked, Chunk, ChunkList, Collection, Descent, Reach, Wanted};
use crate::archive::source::Blocks;

/// A collection's chunks, listed at open or leaf by leaf (see the module's comment).
pub struct LazyList {
    /// What it holds, for messages ("records").
    what: String,
    /// The collection, as the manifest names it.
    collection: Collection,
    /// The leaves, each with the items under it, and the link nodes above them, top level
    /// first; empty when every chunk was listed at open.
    leaves: ChunkList,
    /// Every chunk and link node, once every leaf is read.
    whole: OnceLock<ChunkList>,
    /// The chunks of each leaf read so far, by the leaf's number.
    read: Mutex<HashMap<usize, Vec<Chunk>>>,
}

/// The chunks holding some rows, each with the rows it holds, in row order.
pub type Holding = Vec<(Chunk, Vec<u64>)>;

impl LazyList {
    /// A collection whose every chunk was listed at open: `list` as [`ChunkList::load_all`]
    /// read it with [`Reach::Chunks`].
    pub fn whole(list: ChunkList, wanted: &Wanted) -> LazyList {
        let lazy = LazyList::leaves(ChunkList::default(), wanted);
        let _ = lazy.whole.set(list);
        lazy
    }

    /// A collection read down to its leaves: `list` as [`ChunkList::load_all`] read it with
    /// [`Reach::Leaves`].
    pub fn leaves(list: ChunkList, wanted: &Wanted) -> LazyList {
        LazyList {
            what: wanted.what.to_string(),
            collection: wanted.collection.clone(),
            leaves: list,
            whole: OnceLock::new(),
            read: Mutex::new(HashMap::new()),
        }
    }

    /// Every chunk and link node, reading the leaves not read yet ([`LazyList::read_all`]).
    pub fn all(&self, blocks: &Blocks) -> Result<&ChunkList> {
        LazyList::read_all(blocks, &[self])?;
        Ok(self.whole.get().expect("every leaf was read"))
    }

    /// Whether every leaf has been read (at open, or since).
    fn is_whole(&self) -> bool {
        self.whole.get().is_some()
    }

    /// Reads every leaf of each of `lists` that has not been listed whole, all asked of the
    /// source at once, and checks the chunks against the manifest as an eager read does.
    pub fn read_all(blocks: &Blocks, lists: &[&LazyList]) -> Result<()> {
        let pending: Vec<&&LazyList> = lists.iter().filter(|list| !list.is_whole()).collect();
        blocks.prefetch(pending.iter().flat_map(|list| &list.leaves.chunks).map(|c| &c.cid));
        for list in pending {
            let wanted = list.wanted();
            let mut descent = Descent {
                level: list.leaves.chunks.clone(),
                nodes: list.leaves.nodes.clone(),
                depth: wanted.depth(),
            };
            descent.descend(blocks, &wanted)?;
            let whole = descent.finish(
                blocks.name(),
                &Wanted {
                    reach: Reach::Chunks,
                    ..wanted
                },
            )?;
            let _ = list.whole.set(whole);
        }
        Ok(())
    }

    /// The chunks holding `rows` (ascending), each with the rows it holds, reading the leaves
    /// they are under ([`LazyList::read_leaves`]); an error for a row past the end.
    pub fn holding(&self, blocks: &Blocks, rows: &BTreeSet<u64>) -> Result<Holding> {
        LazyList::read_leaves(blocks, &[(self, rows)])?;
        let read = self.read.lock().expect("not poisoned");
        let mut by_chunk: Holding = Vec::new();
        for &row in rows {
            let Some(chunk) = self.find(row, &read) else {
                bail!("{}: row {row} is past the end of the archive", blocks.name());
            };
            match by_chunk.last_mut() {
                Some((last, rows)) if last.start == chunk.start => rows.push(row),
                _ => by_chunk.push((chunk.clone(), vec![row])),
            }
        }
        Ok(by_chunk)
    }

    /// Reads the leaves holding the rows each of `wanted` asks of its list that are not read
    /// yet, all asked of the source at once (one round trip over the network for every list),
    /// then verified and checked in parallel.
    pub fn read_leaves(blocks: &Blocks, wanted: &[(&LazyList, &BTreeSet<u64>)]) -> Result<()> {
        let missing: Vec<(&LazyList, Vec<usize>)> =
            wanted.iter().map(|(list, rows)| (*list, list.missing(rows))).collect();
        let cids = missing
            .iter()
            .flat_map(|(list, leaves)| leaves.iter().map(|&i| &list.leaves.chunks[i].cid));
        blocks.prefetch(cids);
        for (list, leaves) in missing {
            let read: Vec<(usize, Vec<Chunk>)> = leaves
                .into_par_iter()
                .map(|i| Ok((i, list.read_leaf(blocks, i)?)))
                .collect::<Result<_>>()?;
            list.read.lock().expect("not poisoned").extend(read);
        }
        Ok(())
    }

    /// The numbers of the leaves holding `rows` that have not been read.
    fn missing(&self, rows: &BTreeSet<u64>) -> Vec<usize> {
        if self.is_whole() {
            return Vec::new();
        }
        let read = self.read.lock().expect("not poisoned");
        let leaves = rows.iter().filter_map(|&row| self.leaves.find(row));
        let missing: BTreeSet<usize> = leaves.filter(|i| !read.contains_key(i)).collect();
        missing.into_iter().collect()
    }

    /// The chunks of leaf `i`, verified and checked against the leaf's count.
    fn read_leaf(&self, blocks: &Blocks, i: usize) -> Result<Vec<Chunk>> {
        let leaf = &self.leaves.chunks[i];
        let data = blocks.get(&leaf.cid)?;
        let (name, wanted) = (blocks.name(), self.wanted());
        let mut chunks = Vec::new();
        decode_checked(name, &wanted, leaf, &data, &mut chunks)?;
        check_entries(name, &wanted, leaf, &chunks, chunks.len())?;
        for chunk in &mut chunks {
            chunk.start = chunk.start.saturating_add(leaf.start);
        }
        Ok(chunks)
    }

    /// The chunk holding `row`, from every chunk when listed, else from its leaf in `read`.
    fn find<'a>(&'a self, row: u64, read: &'a HashMap<usize, Vec<Chunk>>) -> Option<&'a Chunk> {
        if let Some(whole) = self.whole.get() {
            return whole.find(row).map(|i| &whole.chunks[i]);
        }
        let chunks = read.get(&self.leaves.find(row)?)?;
        chunks.get(chunks.partition_point(|c| c.start + c.count <= row))
    }

    /// The collection as [`ChunkList::load_all`] reads it, down to its leaves.
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            collection: &self.collection,
            what: &self.what,
            chunks_too: false,
            reach: Reach::Leaves,
        }
    }
}
