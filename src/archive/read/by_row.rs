//! Reading rows: every record or vector in row order (for walks: `ls`, `export`, `verify`,
//! `diff`, the updates), or the records and vectors of given rows (for a query), each chunk
//! verified as it is read. A walk lists every chunk first, reading the leaves not read at open;
//! given rows read only the leaves they are under ([`LazyList`]).

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::{Archive, Located, MAX_RESERVED, PREFETCH_AHEAD};
use crate::archive::records;
use crate::archive::tree::{Chunk, ChunkList, LazyList};
use crate::archive::vectors;
use crate::input::Record;

impl Archive {
    /// Every records chunk and link node, reading the leaves not read yet.
    pub fn records_list(&self) -> Result<&ChunkList> {
        self.records.all(&self.blocks)
    }

    /// Every vectors chunk and link node, reading the leaves not read yet.
    pub fn vectors_list(&self) -> Result<&ChunkList> {
        self.vectors.all(&self.blocks)
    }

    /// Reads the leaves of the records and vectors trees not read yet, all asked of the source
    /// at once: for walks over both.
    pub(in crate::archive) fn read_row_lists(&self) -> Result<()> {
        LazyList::read_all(&self.blocks, &[&self.records, &self.vectors])
    }

    /// The records of `chunk`, a records chunk, decoded.
    pub fn records_in(&self, chunk: &Chunk) -> Result<Vec<Record>> {
        records::decode(&self.blocks.get(&chunk.cid)?, chunk.count)
            .with_context(|| format!("{}: records block {}", self.name(), chunk.cid))
    }

    /// Calls `f` with every record and its row number, in row order.
    pub fn for_each_record(&self, mut f: impl FnMut(u64, &Record) -> Result<()>) -> Result<()> {
        let list = self.records_list()?;
        for (i, chunk) in list.chunks.iter().enumerate() {
            self.prefetch_window(list, i);
            for (offset, record) in self.records_in(chunk)?.iter().enumerate() {
                f(chunk.start + offset as u64, record)?;
            }
        }
        Ok(())
    }

    /// Calls `f` with every row's number, record and vector, in row order.
    pub fn for_each_row(&self, mut f: impl FnMut(u64, &Record, &[f32]) -> Result<()>) -> Result<()> {
        self.read_row_lists()?;
        let (dims, list) = (self.manifest.dimensions as usize, self.vectors_list()?);
        let mut loaded: Option<(usize, Vec<f32>)> = None;
        self.for_each_record(|row, record| {
            let i = list.find(row).context("vectors end before the records")?;
            if loaded.as_ref().map(|l| l.0) != Some(i) {
                self.prefetch_window(list, i);
                loaded = Some((i, self.vectors_in(&list.chunks[i])?));
            }
            let (_, chunk) = loaded.as_ref().expect("loaded above");
            let at = (row - list.chunks[i].start) as usize * dims;
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

    /// The vectors of `chunk`, a vectors chunk, as one flat array of rows.
    pub fn vectors_in(&self, chunk: &Chunk) -> Result<Vec<f32>> {
        vectors::decode(&self.blocks.get(&chunk.cid)?, chunk.count, self.manifest.dimensions)
            .with_context(|| format!("{}: vectors block {}", self.name(), chunk.cid))
    }

    /// The verified bytes of `chunk`, a vectors chunk, checked to be as long as its rows need.
    fn vector_bytes(&self, chunk: &Chunk) -> Result<Vec<u8>> {
        let bytes = self.blocks.get(&chunk.cid)?;
        vectors::check_size(&bytes, chunk.count, self.manifest.dimensions)
            .with_context(|| format!("{}: vectors block {}", self.name(), chunk.cid))?;
        Ok(bytes)
    }

    /// Every vector, in row order.
    pub fn all_vectors(&self) -> Result<Vec<f32>> {
        let claimed = self.manifest.count * self.manifest.dimensions;
        let mut all = Vec::with_capacity(claimed.min(self.blocks.size() / 4).min(MAX_RESERVED) as usize);
        let list = self.vectors_list()?;
        for (i, chunk) in list.chunks.iter().enumerate() {
            self.prefetch_window(list, i);
            all.extend(self.vectors_in(chunk)?);
        }
        Ok(all)
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
        self.gather(&self.vectors, rows, |chunk, offsets| {
            let bytes = self.vector_bytes(chunk)?;
            let vector = |offset: &usize| {
                let row = chunk.start + *offset as u64;
                vectors::decode(&bytes[offset * width..(offset + 1) * width], 1, dims)
                    .map(|vector| f(row, &vector))
                    .with_context(|| format!("{}: vector of row {row}", self.name()))
            };
            offsets.iter().map(vector).collect()
        })
    }

    /// Says that the vectors and records of `rows` will be read soon: a source over the network
    /// fetches the leaves they are under together (when not read yet), then their chunks
    /// together. An error if a leaf cannot be read, or a row is past the end.
    pub fn prefetch_rows(&self, rows: &BTreeSet<u64>) -> Result<()> {
        let blocks = &self.blocks;
        LazyList::read_leaves(blocks, &[(&self.vectors, rows), (&self.records, rows)])?;
        let (vectors, records) = (self.vectors.holding(blocks, rows)?, self.records.holding(blocks, rows)?);
        blocks.prefetch(vectors.iter().chain(&records).map(|(chunk, _)| &chunk.cid));
        Ok(())
    }

    /// The records of the given rows, reading each chunk once and decoding only those rows.
    pub fn records_of(&self, rows: &BTreeSet<u64>) -> Result<HashMap<u64, Located>> {
        self.gather(&self.records, rows, |chunk, offsets| {
            let records = records::decode_some(&self.blocks.get(&chunk.cid)?, chunk.count, offsets)
                .with_context(|| format!("{}: records block {}", self.name(), chunk.cid))?;
            let located = |record| Located { record, cid: chunk.cid };
            Ok(records.into_iter().map(located).collect())
        })
    }

    /// For each of `rows`, its result from `read(chunk, offsets in that chunk)`, which returns
    /// one result per offset, in order. Chunks are read once each, in parallel.
    fn gather<T: Send>(
        &self,
        list: &LazyList,
        rows: &BTreeSet<u64>,
        read: impl Fn(&Chunk, &[usize]) -> Result<Vec<T>> + Sync,
    ) -> Result<HashMap<u64, T>> {
        let by_chunk = list.holding(&self.blocks, rows)?;
        self.blocks.prefetch(by_chunk.iter().map(|(chunk, _)| &chunk.cid));
        let found: Vec<Vec<(u64, T)>> = by_chunk
            .into_par_iter()
            .map(|(chunk, rows)| {
                let offsets: Vec<usize> = rows.iter().map(|row| (row - chunk.start) as usize).collect();
                Ok(rows.into_iter().zip(read(&chunk, &offsets)?).collect())
            })
            .collect::<Result<_>>()?;
        Ok(found.into_iter().flatten().collect())
    }
}
