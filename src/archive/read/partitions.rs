//! Reading a partitioned index's partitions: each into its own buffer (for updates and
//! `verify`), or as its verified chunks, shared where the source can (for a query).

use anyhow::{bail, Result};
use bytes::Bytes;
use cid::Cid;
use rayon::prelude::*;

use super::{cut, Archive};
use crate::archive::manifest::Partitions;
use crate::archive::tree::ChunkList;
use crate::params::{partition_row_bytes, partition_rows_per_chunk};

impl Archive {
    /// The verified bytes of each of the partitions `wanted` (its chunks one after another),
    /// every chunk asked of the source at once and read in place.
    pub fn partition_bytes(&self, wanted: &[usize]) -> Result<Vec<Vec<u8>>> {
        let chunks = self.partition_chunks(wanted)?;
        let mut bytes = Vec::with_capacity(chunks.len());
        for partition in &chunks {
            let len = partition.iter().map(|c| c.1).sum();
            bytes.push(self.reserve(len)?);
        }
        let mut parts = Vec::new();
        for (partition, buf) in chunks.into_iter().zip(&mut bytes) {
            cut(partition, buf, &mut parts);
        }
        self.read_parts(parts)?;
        Ok(bytes)
    }

    /// The verified chunks of each of the partitions `wanted`, in order, for a query: every
    /// chunk asked of the source at once, then read and verified in parallel. A file's chunks
    /// are shared from its map, not copied: a query's 32 partitions of a 1M-row archive are
    /// ~13 MB, which copied into fresh memory cost more in the kernel's zeroing of it than in
    /// hashing, and a running `vecar query` keeps what it read for the next queries.
    pub fn partitions_shared(&self, wanted: &[usize]) -> Result<Vec<Vec<Bytes>>> {
        let chunks = self.partition_chunks(wanted)?;
        self.blocks.prefetch(chunks.iter().flatten().map(|c| c.0));
        let read = |&(cid, len): &(&Cid, usize)| {
            let data = self.blocks.get_shared(cid)?;
            if data.len() != len {
                bail!(
                    "{}: block {cid} is {} bytes; its link says {len}",
                    self.name(),
                    data.len()
                );
            }
            Ok(data)
        };
        chunks
            .par_iter()
            .map(|partition| partition.par_iter().map(read).collect())
            .collect()
    }

    /// The chunks of each of the partitions `wanted`, each with its length in bytes. Each chunk
    /// holds at most a block's worth of rows (`partition_starts` checked the cut); all of them
    /// together may claim no more than the archive's size.
    fn partition_chunks(&self, wanted: &[usize]) -> Result<Vec<Vec<(&Cid, usize)>>> {
        if let Some(&p) = wanted.iter().find(|&&p| p + 1 >= self.partition_starts.len()) {
            bail!("{}: no partition {p}", self.name());
        }
        let width = partition_row_bytes(self.manifest.dimensions as usize) as u64;
        let chunks = |p: usize| &self.partitions.chunks[self.partition_starts[p]..self.partition_starts[p + 1]];
        let total: u64 = wanted.iter().flat_map(|&p| chunks(p)).map(|c| c.count * width).sum();
        if total > self.blocks.size() {
            bail!(
                "{}: partitions of {total} bytes, more than the archive holds",
                self.name()
            );
        }
        let with_len = |p: usize| chunks(p).iter().map(|c| (&c.cid, (c.count * width) as usize)).collect();
        Ok(wanted.iter().map(|&p| with_len(p)).collect())
    }
}

/// Where each partition's chunks start in `list` (and where the last ends), checking that every
/// partition is cut into chunks as the layout says.
pub(super) fn partition_starts(list: &ChunkList, partitions: &Partitions, dimensions: u64) -> Result<Vec<usize>> {
    let per_chunk = partition_rows_per_chunk(dimensions as usize) as u64;
    let mut starts = vec![0];
    let mut chunks = list.chunks.iter();
    for (p, &size) in partitions.sizes.iter().enumerate() {
        let mut left = size;
        while left > 0 {
            let expected = left.min(per_chunk);
            match chunks.next() {
                Some(chunk) if chunk.count == expected => left -= expected,
                _ => bail!("partition {p}'s chunks do not hold its {size} rows as the layout cuts them"),
            }
        }
        starts.push(starts[p] + size.div_ceil(per_chunk) as usize);
    }
    Ok(starts)
}
