//! A structural check of serialized usearch index bytes, run before usearch loads them.
//!
//! Hashes prove the bytes are the archive author's, not that they are sane: usearch's loader
//! trusts the graph it reads, so a crafted index with valid hashes could make it read out of
//! bounds. This walks the layout usearch 2.x writes (`index_dense_gt::save_to_stream`) and checks
//! every length, level, key and neighbour slot against the manifest before usearch sees them:
//!
//! ```text
//! u32 rows, u32 bytes per vector | rows × vector bytes
//! 64-byte head: "usearch", version, metric, scalar, key and slot kinds, counts, dimensions
//! u64 size, connectivity, connectivity_base, max_level, entry_slot | size × i16 levels
//! size × node: u64 key, i16 level, then level + 1 lists of (u32 count, capacity × u32 slot)
//! ```

use anyhow::{bail, ensure, Result};

use crate::params::{Dtype, MAX_CONNECTIVITY};

/// usearch's scalar-kind codes for the u64 keys and u32 slots vecar's index uses.
const KIND_U64: u8 = 14;
const KIND_U32: u8 = 15;
const HEAD_BYTES: usize = 64;
/// Deepest HNSW level accepted (usearch levels grow as log of the count; 64 is far beyond).
const MAX_LEVEL: u64 = 64;

/// Reads little-endian integers from a byte slice, failing at the end instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            bail!("index is truncated at byte {}", self.pos)
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn uint(&mut self, n: usize) -> Result<u64> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |acc, &b| acc << 8 | b as u64))
    }
}

/// Checks that `bytes` are a well-formed index of `count` vectors of `dimensions` values.
pub fn check_structure(bytes: &[u8], dimensions: u64, count: u64, dtype: Dtype) -> Result<()> {
    parse(bytes, dimensions, count, dtype).map(|_| ())
}

/// The rows of a well-formed index (as [`check_structure`] checks) that a search may never
/// return, ascending; see [`Graph::unreachable`].
pub fn unreachable(bytes: &[u8], dimensions: u64, count: u64, dtype: Dtype) -> Result<Vec<u64>> {
    Ok(parse(bytes, dimensions, count, dtype)?.unreachable())
}

/// The HNSW graph of a checked index (as [`check_structure`] checks), for converting it to
/// another engine's (`vecar export --to faiss`). Nodes are named by their keys, the rows.
pub fn graph(bytes: &[u8], dimensions: u64, count: u64, dtype: Dtype) -> Result<Graph<'_>> {
    parse(bytes, dimensions, count, dtype)
}

/// The graph of a checked index, read in place.
pub struct Graph<'a> {
    bytes: &'a [u8],
    /// The slot every search starts from.
    entry: usize,
    /// The top level.
    max_level: u64,
    /// Most neighbours on the levels above the base, and on the base.
    connectivity: u64,
    base: u64,
    /// Per slot: its top level.
    levels: Vec<u64>,
    /// Per slot: its key (the row).
    keys: Vec<u64>,
    /// Per slot: the offset of its base-layer neighbour count.
    base_lists: Vec<usize>,
}

impl Graph<'_> {
    /// The row every search starts from.
    pub fn entry_row(&self) -> u64 {
        self.keys[self.entry]
    }

    /// The top level of the graph.
    pub fn max_level(&self) -> u64 {
        self.max_level
    }

    /// Most neighbours a node has on the levels above the base (HNSW M), and on the base.
    pub fn connectivity(&self) -> (u64, u64) {
        (self.connectivity, self.base)
    }

    /// The top level of `slot`.
    pub fn level(&self, slot: usize) -> u64 {
        self.levels[slot]
    }

    /// The slot of each row.
    pub fn slots(&self) -> Vec<usize> {
        let mut slots = vec![0; self.keys.len()];
        for (slot, &key) in self.keys.iter().enumerate() {
            slots[key as usize] = slot;
        }
        slots
    }

    /// The rows that `slot` links to on `level` (at most its top level).
    pub fn links(&self, slot: usize, level: u64) -> impl Iterator<Item = u64> + '_ {
        let at = match level {
            0 => self.base_lists[slot],
            _ => {
                self.base_lists[slot]
                    + 4
                    + 4 * self.base as usize
                    + (level as usize - 1) * (4 + 4 * self.connectivity as usize)
            }
        };
        self.list(at).map(|slot| self.keys[slot])
    }

    /// The slots of the neighbour list at byte `at`.
    fn list(&self, at: usize) -> impl Iterator<Item = usize> + '_ {
        let b = &self.bytes[at..at + 4];
        let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        self.bytes[at + 4..at + 4 + 4 * count]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Walks the layout of `bytes`, checking every field, and returns its base-layer graph.
fn parse(bytes: &[u8], dimensions: u64, count: u64, dtype: Dtype) -> Result<Graph<'_>> {
    let mut r = Reader { bytes, pos: 0 };
    check_head(&mut r, dimensions, count, dtype)?;
    let mut graph = graph_head(&mut r, count)?;
    let (max_level, connectivity, base) = (graph.max_level, graph.connectivity, graph.base);
    let mut seen = vec![false; count as usize];
    for slot in 0..count as usize {
        let level = graph.levels[slot];
        ensure!(
            level <= max_level,
            "index node {slot} has level {level} above the top level {max_level}"
        );
        let key = r.uint(8)?;
        ensure!(
            key < count && !std::mem::replace(&mut seen[key as usize], true),
            "index node {slot} has a bad key {key}"
        );
        ensure!(r.uint(2)? == level, "index node {slot} disagrees about its level");
        graph.keys.push(key);
        graph.base_lists.push(r.pos);
        for layer in 0..=level {
            let capacity = if layer == 0 { base } else { connectivity };
            check_list(&mut r, slot, capacity, count)?;
        }
    }
    ensure!(
        r.pos == bytes.len(),
        "index has {} bytes after its last node",
        bytes.len() - r.pos
    );
    Ok(graph)
}

/// Reads and checks the graph's head (its size, connectivity, top level, entry point and every
/// node's level), leaving `r` at the first node. The graph it returns has every node's level and
/// no node yet.
fn graph_head<'a>(r: &mut Reader<'a>, count: u64) -> Result<Graph<'a>> {
    let [size, connectivity, connectivity_base, max_level, entry] = [0; 5].map(|_| r.uint(8));
    let (size, connectivity, base, max_level, entry) = (size?, connectivity?, connectivity_base?, max_level?, entry?);
    ensure!(size == count, "index graph has {size} nodes; the manifest says {count}");
    ensure!(
        (2..=MAX_CONNECTIVITY).contains(&connectivity),
        "index connectivity {connectivity} is out of range"
    );
    ensure!(
        (connectivity..=2 * MAX_CONNECTIVITY).contains(&base),
        "index base connectivity {base} is out of range"
    );
    ensure!(
        max_level <= MAX_LEVEL && entry < size,
        "index entry point is out of range"
    );
    let levels: Vec<u64> = (0..size).map(|_| r.uint(2)).collect::<Result<_>>()?;
    ensure!(
        levels[entry as usize] == max_level,
        "index entry point is not on the top level"
    );
    Ok(Graph {
        bytes: r.bytes,
        entry: entry as usize,
        max_level,
        connectivity,
        base,
        levels,
        keys: Vec::with_capacity(size as usize),
        base_lists: Vec::with_capacity(size as usize),
    })
}

/// Checks the stored vectors (`count` of `dimensions` values of `dtype`) and the head that come
/// before the graph, leaving `r` at the graph.
fn check_head(r: &mut Reader, dimensions: u64, count: u64, dtype: Dtype) -> Result<()> {
    let scalar_bytes = match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::Bf16 => 2,
        Dtype::I8 => 1,
    };
    let (rows, row_bytes) = (r.uint(4)?, r.uint(4)?);
    ensure!(
        rows == count && row_bytes == dimensions * scalar_bytes,
        "index holds {rows} vectors of {row_bytes} bytes"
    );
    r.take((rows * row_bytes) as usize)?;
    let head = r.take(HEAD_BYTES)?;
    ensure!(&head[..7] == b"usearch", "index head lacks the usearch magic");
    ensure!(
        head[15] == KIND_U64 && head[16] == KIND_U32,
        "index uses unsupported key or slot kinds"
    );
    Ok(())
}

/// Checks one neighbour list of node `slot`: at most `capacity` neighbours, each a slot below
/// `size`, in a list of `capacity` slots.
fn check_list(r: &mut Reader, slot: usize, capacity: u64, size: u64) -> Result<()> {
    let neighbours = r.uint(4)?;
    ensure!(
        neighbours <= capacity,
        "index node {slot} claims {neighbours} neighbours"
    );
    let slots = r.take(4 * capacity as usize)?;
    for neighbour in slots.chunks_exact(4).take(neighbours as usize) {
        let neighbour = u32::from_le_bytes([neighbour[0], neighbour[1], neighbour[2], neighbour[3]]) as u64;
        ensure!(
            neighbour < size,
            "index node {slot} links to slot {neighbour} of {size}"
        );
    }
    Ok(())
}

/// Most walks from upper-layer slots that cannot reach the entry point; past it, every row
/// counts as unreachable, so a hostile index cannot make the check quadratic.
const MAX_EXTRA_WALKS: usize = 64;

impl Graph<'_> {
    /// The rows whose slots are not reachable on the base layer from every slot a search may
    /// start its base-layer walk at, ascending.
    ///
    /// A search descends the upper layers greedily to one of their slots (the entry point alone
    /// when there are none), then walks the base layer from it; with `ef` at least the count it
    /// visits every slot reachable from there, and with any `ef` no other. A start that reaches
    /// the entry point reaches whatever the entry point reaches, so only upper-layer slots that
    /// cannot reach it need walks of their own (built graphs have none).
    fn unreachable(&self) -> Vec<u64> {
        let mut safe = self.reached_from(self.entry);
        let to_entry = self.reaching(self.entry);
        let starts: Vec<usize> = (0..self.keys.len())
            .filter(|&slot| self.levels[slot] > 0 && !to_entry[slot])
            .collect();
        if starts.len() > MAX_EXTRA_WALKS {
            safe.fill(false);
        } else {
            for start in starts {
                let reached = self.reached_from(start);
                safe.iter_mut()
                    .zip(reached)
                    .for_each(|(safe, reached)| *safe &= reached);
            }
        }
        let mut rows: Vec<u64> = (0..self.keys.len())
            .filter(|&slot| !safe[slot])
            .map(|slot| self.keys[slot])
            .collect();
        rows.sort_unstable();
        rows
    }

    /// The base-layer slots that `slot` links to.
    fn neighbours(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        self.list(self.base_lists[slot])
    }

    /// Per slot: whether a walk along base-layer links from `start` gets there.
    fn reached_from(&self, start: usize) -> Vec<bool> {
        walk(self.keys.len(), start, |slot| self.neighbours(slot))
    }

    /// Per slot: whether a walk along base-layer links from there gets to `end`.
    fn reaching(&self, end: usize) -> Vec<bool> {
        let slots = self.keys.len();
        // Links reversed, in compressed rows: the slots linking to `s` are
        // `sources[starts[s]..starts[s + 1]]`.
        let mut starts = vec![0usize; slots + 1];
        for slot in 0..slots {
            self.neighbours(slot).for_each(|to| starts[to + 1] += 1);
        }
        for s in 0..slots {
            starts[s + 1] += starts[s];
        }
        let mut filled = starts.clone();
        let mut sources = vec![0u32; starts[slots]];
        for slot in 0..slots {
            for to in self.neighbours(slot) {
                sources[filled[to]] = slot as u32;
                filled[to] += 1;
            }
        }
        walk(slots, end, |slot| {
            sources[starts[slot]..starts[slot + 1]].iter().map(|&s| s as usize)
        })
    }
}

/// Per slot of `slots`: whether following `next` from `start` gets there.
fn walk<I: IntoIterator<Item = usize>>(slots: usize, start: usize, next: impl Fn(usize) -> I) -> Vec<bool> {
    let mut reached = vec![false; slots];
    reached[start] = true;
    let mut stack = vec![start];
    while let Some(slot) = stack.pop() {
        for to in next(slot) {
            if !std::mem::replace(&mut reached[to], true) {
                stack.push(to);
            }
        }
    }
    reached
}
