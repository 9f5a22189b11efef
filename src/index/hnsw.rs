//! The usearch HNSW index: building it from vectors, and loading verified bytes back.

use std::borrow::Cow;
use std::fs::File;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use memmap2::MmapMut;
use rayon::prelude::*;
use usearch::{Index, IndexOptions};

use super::layout;
use super::params::unit;
use crate::params::IndexParams;

/// Version of usearch, which writes the index bytes, as the manifest records it.
pub fn version() -> &'static str {
    usearch::version()
}

/// Builds an HNSW index over `vectors` (rows of `dimensions` values, keyed by row number) and
/// returns its serialized bytes in an unnamed temporary file. `threads` must match rayon's
/// pool. With one thread the bytes are reproducible; with more, the graph depends on scheduling.
pub fn build(
    vectors: &[f32],
    dimensions: usize,
    params: &IndexParams,
    threads: usize,
    progress: &ProgressBar,
) -> Result<File> {
    let index = new_index(dimensions, params)?;
    index
        .reserve_capacity_and_threads(vectors.len() / dimensions, threads)
        .context("reserving index memory")?;
    add_rows(&index, params.normalized, vectors, 0, threads, progress)?;
    // Saved to an unnamed temporary file rather than a buffer, so the build never holds the
    // index twice in memory.
    let file = tempfile::NamedTempFile::new().context("creating a temporary file for the index")?;
    let path = file
        .path()
        .to_str()
        .context("the temporary folder's path is not UTF-8")?;
    index.save(path).context("saving the index")?;
    Ok(file.into_file())
}

/// Adds rows of `index.dimensions()` values, keyed by row number from `first_row` on.
fn add_rows(
    index: &Index,
    normalized: bool,
    vectors: &[f32],
    first_row: usize,
    threads: usize,
    progress: &ProgressBar,
) -> Result<()> {
    let add = |(i, vector): (usize, &[f32])| {
        let row = first_row + i;
        let vector = scaled(normalized, vector);
        index
            .add(row as u64, &vector)
            .with_context(|| format!("adding row {row} to the index"))?;
        progress.inc(1);
        anyhow::Ok(())
    };
    let dimensions = index.dimensions();
    if threads == 1 {
        vectors.chunks_exact(dimensions).enumerate().try_for_each(add)
    } else {
        vectors.par_chunks_exact(dimensions).enumerate().try_for_each(add)
    }
}

fn serialize(index: &Index) -> Result<Vec<u8>> {
    let mut bytes = vec![0; index.serialized_length()];
    index.save_to_buffer(&mut bytes).context("serializing the index")?;
    Ok(bytes)
}

/// The rows of hash-verified index bytes that no search through the graph returns, ascending,
/// once the bytes pass the header and structure checks (see [`layout::unreachable`]).
pub fn unreachable(bytes: &[u8], dimensions: u64, count: u64, params: &IndexParams) -> Result<Vec<u64>> {
    check_header(bytes, dimensions, count, params)?;
    layout::unreachable(bytes, dimensions, count, params.dtype)
}

/// The graph of hash-verified index bytes, once they pass the header and structure checks.
pub fn graph<'a>(bytes: &'a [u8], dimensions: u64, count: u64, params: &IndexParams) -> Result<layout::Graph<'a>> {
    check_header(bytes, dimensions, count, params)?;
    layout::graph(bytes, dimensions, count, params.dtype)
}

/// A new, empty index for `bytes` once they pass the header and structure checks.
fn checked_index(bytes: &[u8], dimensions: u64, count: u64, params: &IndexParams) -> Result<Index> {
    check_header(bytes, dimensions, count, params)?;
    layout::check_structure(bytes, dimensions, count, params.dtype)?;
    new_index(dimensions as usize, params)
}

fn new_index(dimensions: usize, params: &IndexParams) -> Result<Index> {
    let options = IndexOptions {
        dimensions,
        metric: params.usearch_metric(),
        quantization: params.dtype.usearch(),
        connectivity: params.connectivity as usize,
        expansion_add: params.expansion_add as usize,
        expansion_search: params.expansion_search as usize,
        multi: false,
    };
    Index::new(&options).context("creating the usearch index")
}

/// Checks serialized index bytes against what the manifest says they hold.
pub fn check_header(bytes: &[u8], dimensions: u64, count: u64, params: &IndexParams) -> Result<()> {
    let meta = Index::metadata_from_buffer(bytes).map_err(|e| anyhow::anyhow!("index header is unreadable: {e}"))?;
    let expected = (
        dimensions,
        params.usearch_metric(),
        params.dtype.usearch(),
        false,
        count,
        0,
    );
    let found = (
        meta.dimensions,
        meta.metric,
        meta.quantization,
        meta.multi,
        meta.count_present,
        meta.count_deleted,
    );
    if found != expected {
        bail!(
            "index header says {} dimensions, {:?}, {:?}, {} vectors ({} deleted); the manifest says {dimensions}, {:?}, {:?}, {count}",
            meta.dimensions, meta.metric, meta.quantization, meta.count_present, meta.count_deleted,
            params.usearch_metric(), params.dtype.usearch()
        );
    }
    Ok(())
}

/// `vector` as the index takes it: at unit length when the index is `normalized`.
fn scaled(normalized: bool, vector: &[f32]) -> Cow<'_, [f32]> {
    if normalized {
        Cow::Owned(unit(vector))
    } else {
        Cow::Borrowed(vector)
    }
}

/// A loaded index, ready to search.
pub struct Hnsw {
    index: Index,
    normalized: bool,
    /// The bytes a viewed index reads in place. Declared after `index`, so dropped after it.
    _viewed: Option<MmapMut>,
}

impl Hnsw {
    /// Loads a copy of hash-verified index bytes, which can then grow, once their header
    /// matches the manifest and their graph passes [`layout::check_structure`].
    pub fn load(bytes: &[u8], dimensions: u64, count: u64, params: &IndexParams, threads: usize) -> Result<Hnsw> {
        let index = checked_index(bytes, dimensions, count, params)?;
        index.load_from_buffer(bytes).context("loading the index")?;
        Hnsw {
            index,
            normalized: params.normalized,
            _viewed: None,
        }
        .ready(count, threads)
    }

    /// Searches hash-verified index bytes in place, without a copy, after the same checks as
    /// [`Hnsw::load`].
    pub fn view(bytes: MmapMut, dimensions: u64, count: u64, params: &IndexParams, threads: usize) -> Result<Hnsw> {
        let index = checked_index(&bytes, dimensions, count, params)?;
        // SAFETY: the bytes are owned by the returned Hnsw, never changed, and dropped after
        // the index that views them.
        unsafe { index.view_from_buffer(&bytes) }.context("loading the index")?;
        Hnsw {
            index,
            normalized: params.normalized,
            _viewed: Some(bytes),
        }
        .ready(count, threads)
    }

    fn ready(self, count: u64, threads: usize) -> Result<Hnsw> {
        if self.index.size() as u64 != count {
            bail!("index holds {} vectors; the manifest says {count}", self.index.size());
        }
        self.index
            .reserve_capacity_and_threads(self.index.size(), threads)
            .context("reserving search threads")?;
        Ok(self)
    }

    /// Adds `vectors` (rows keyed from `first_row` on, which must be the index's size) and
    /// returns the serialized bytes of the grown index. With one thread the bytes are
    /// reproducible.
    pub fn extend(self, vectors: &[f32], first_row: usize, threads: usize, progress: &ProgressBar) -> Result<Vec<u8>> {
        let rows = vectors.len() / self.index.dimensions();
        anyhow::ensure!(first_row == self.index.size(), "new rows must follow the indexed ones");
        self.index
            .reserve_capacity_and_threads(first_row + rows, threads)
            .context("reserving index memory")?;
        add_rows(&self.index, self.normalized, vectors, first_row, threads, progress)?;
        serialize(&self.index)
    }

    /// Sets the search breadth (HNSW ef).
    pub fn set_expansion(&self, ef: usize) {
        self.index.change_expansion_search(ef);
    }

    /// The rows of the `k` nearest neighbours of `query` that pass `allowed`, found inside the
    /// graph traversal.
    pub fn filtered_search(&self, query: &[f32], k: usize, allowed: impl Fn(u64) -> bool) -> Result<Vec<u64>> {
        let matches = self
            .index
            .filtered_search(&scaled(self.normalized, query), k, allowed)
            .context("searching the index")?;
        Ok(matches.keys)
    }

    /// The index's copy of row `row`'s vector (quantized to the index's scalar kind).
    pub fn vector(&self, row: u64) -> Result<Vec<f32>> {
        let mut vector = vec![0f32; self.index.dimensions()];
        let found = self
            .index
            .get(row, &mut vector)
            .context("reading a vector from the index")?;
        anyhow::ensure!(found == 1, "the index has no vector for row {row}");
        Ok(vector)
    }

    /// The rows of the `k` nearest neighbours of `query`, by the index's own distances.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<u64>> {
        let matches = self
            .index
            .search(&scaled(self.normalized, query), k)
            .context("searching the index")?;
        Ok(matches.keys)
    }
}
