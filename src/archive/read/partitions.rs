//! Reading a partitioned index's partitions: each into its own buffer (for updates and
//! `verify`), or all into one (for a query), every chunk read in place. Read, a
//! partition is its row list's chunks, then its codes' chunks; a version 1 partition (each row's
//! number inside its codes) is split so as it is read.

use anyhow::{bail, Result};
use bytes::Bytes;
use cid::Cid;

use super::{cut, Archive};
use crate::archive::manifest::Partitions;
use crate::archive::tree::ChunkList;
use crate::params::{partition_row_bytes, partition_rows_per_chunk, PARTITION_ROW_NUMBER};

impl Archive {
    /// The verified bytes of each of the partitions `wanted` (its row numbers, then its codes),
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
        if self.version_1() {
            let dims = self.manifest.dimensions as usize;
            for part in &mut bytes {
                let (rows, codes) = split_v1(part, dims);
                *part = [rows, codes].concat();
            }
        }
        Ok(bytes)
    }

    /// The verified chunks of each of the partitions `wanted`, in order (its row list's, then
    /// its codes'), for a query: all read in place into one buffer, in huge pages when large (a
    /// query's 32 partitions of a 1M-row archive: ~13 MB, 3,200 page faults at 4 KiB), every
    /// chunk asked of the source at once, then read and verified in parallel; each chunk is a
    /// slice of the buffer. A version 1 chunk is split, copied, into its row numbers and codes.
    pub fn partitions_together(&self, wanted: &[usize]) -> Result<Vec<Vec<Bytes>>> {
        let chunks = self.partition_chunks(wanted)?;
        let total = chunks.iter().flatten().map(|c| c.1).sum();
        let mut bytes = self.reserve(total)?;
        let mut parts = Vec::new();
        cut(chunks.iter().flatten().copied(), &mut bytes, &mut parts);
        self.read_parts(parts)?;
        let (bytes, mut end) = (Bytes::from(bytes), 0);
        let mut slice = |len: usize| {
            end += len;
            bytes.slice(end - len..end)
        };
        let read: Vec<Vec<Bytes>> = chunks
            .iter()
            .map(|partition| partition.iter().map(|c| slice(c.1)).collect())
            .collect();
        if !self.version_1() {
            return Ok(read);
        }
        let dims = self.manifest.dimensions as usize;
        let split = |chunks: Vec<Bytes>| {
            let (rows, codes): (Vec<Bytes>, Vec<Bytes>) = (chunks.iter())
                .map(|chunk| split_v1(chunk, dims))
                .map(|(rows, codes)| (rows.into(), codes.into()))
                .unzip();
            rows.into_iter().chain(codes).collect()
        };
        Ok(read.into_iter().map(split).collect())
    }

    /// The chunks of each of the partitions `wanted`, its row list's then its codes', each with
    /// its length in bytes. Each chunk holds at most a block's worth of rows
    /// (`partition_starts` checked the cut); all of them together may claim no more than the
    /// archive's size.
    fn partition_chunks(&self, wanted: &[usize]) -> Result<Vec<Vec<(&Cid, usize)>>> {
        if let Some(&p) = wanted.iter().find(|&&p| p + 1 >= self.partition_starts.len()) {
            bail!("{}: no partition {p}", self.name());
        }
        let dims = self.manifest.dimensions;
        let code_bytes = (self.manifest.index.partitions.as_ref()).map_or(0, |p| p.code_bytes(dims));
        let at = |p: usize| self.partition_starts[p]..self.partition_starts[p + 1];
        let codes = |p: usize| self.partitions.chunks[at(p)].iter().map(|c| (c, c.count * code_bytes));
        // None in version 1.
        let rows = |p: usize| self.partition_rows.chunks.get(at(p)).unwrap_or_default();
        let rows = |p: usize| rows(p).iter().map(|c| (c, c.count * PARTITION_ROW_NUMBER as u64));
        let total: u64 = wanted.iter().flat_map(|&p| rows(p).chain(codes(p))).map(|c| c.1).sum();
        if total > self.blocks.size() {
            bail!(
                "{}: partitions of {total} bytes, more than the archive holds",
                self.name()
            );
        }
        let with_len = |p: usize| rows(p).chain(codes(p)).map(|(c, len)| (&c.cid, len as usize)).collect();
        Ok(wanted.iter().map(|&p| with_len(p)).collect())
    }

    /// Whether the partitions are version 1's: each row's number inside its codes.
    fn version_1(&self) -> bool {
        (self.manifest.index.partitions.as_ref()).is_some_and(|p| p.rows.is_none())
    }
}

/// The bytes of a version 1 partition, or of one of its chunks (each row's number, then its
/// codes), as version 2 holds them: the row numbers, and the codes.
fn split_v1(bytes: &[u8], dims: usize) -> (Vec<u8>, Vec<u8>) {
    let rows = bytes.chunks_exact(partition_row_bytes(dims));
    let numbers = rows.clone().flat_map(|row| &row[..PARTITION_ROW_NUMBER]);
    let codes = rows.flat_map(|row| &row[PARTITION_ROW_NUMBER..]);
    (numbers.copied().collect(), codes.copied().collect())
}

/// Where each partition's chunks start in `codes` and, unless it is a version 1 index, in
/// `rows` (and where the last ends), checking that every partition is cut into chunks as the
/// layout says.
pub(super) fn partition_starts(
    codes: &ChunkList,
    rows: &ChunkList,
    partitions: &Partitions,
    dimensions: u64,
) -> Result<Vec<usize>> {
    let starts = cut_starts(codes, partitions, dimensions, "codes")?;
    if partitions.rows.is_some() {
        cut_starts(rows, partitions, dimensions, "row list")?;
    }
    Ok(starts)
}

/// Where each partition's chunks start in `list` (and where the last ends), checking that every
/// partition's chunks there (its `what`) are cut as the layout says.
fn cut_starts(list: &ChunkList, partitions: &Partitions, dimensions: u64, what: &str) -> Result<Vec<usize>> {
    let per_chunk = partition_rows_per_chunk(dimensions as usize) as u64;
    let mut starts = vec![0];
    let mut chunks = list.chunks.iter();
    for (p, &size) in partitions.sizes.iter().enumerate() {
        let mut left = size;
        while left > 0 {
            let expected = left.min(per_chunk);
            match chunks.next() {
                Some(chunk) if chunk.count == expected => left -= expected,
                _ => bail!("partition {p}'s {what} chunks do not hold its {size} rows as the layout cuts them"),
            }
        }
        starts.push(starts[p] + size.div_ceil(per_chunk) as usize);
    }
    Ok(starts)
}
