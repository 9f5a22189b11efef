//! Building partitions (every row assigned to its nearest centroid) and updating them in place
//! (rows removed and renumbered, new rows appended), then cutting them into chunks.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use super::{kmeans, numbers, prepared, quantize, space, split, Centroids};
use crate::params::{
    partition_code_bytes, partition_rows_per_chunk, Metric, PARTITION_CODE_HEADER, PARTITION_ROW_NUMBER,
};

/// A built partitioned index.
pub struct Built {
    /// The centroids, float32 rows in partition order.
    pub centroids: Vec<f32>,
    /// Rows in each partition.
    pub sizes: Vec<u64>,
    /// The row lists' chunks (row numbers, u64 little-endian), partition after partition, each
    /// at most [`partition_rows_per_chunk`] rows.
    pub rows: Vec<Vec<u8>>,
    /// The codes' chunks, cut at the same rows as `rows`: chunk i of each holds the same rows.
    pub codes: Vec<Vec<u8>>,
}

/// One partition: its rows' numbers, ascending, and their codes, row after row.
struct Part {
    rows: Vec<u64>,
    codes: Vec<u8>,
}

impl Part {
    /// A partition from its bytes as read: its row numbers, then its codes.
    fn read(mut bytes: Vec<u8>, dims: usize) -> Result<Part> {
        let rows: Vec<u64> = numbers(split(&bytes, dims)?.0).collect();
        bytes.drain(..rows.len() * PARTITION_ROW_NUMBER);
        Ok(Part { rows, codes: bytes })
    }

    /// Adds `row` and its vector (as the index holds it), quantized, in row order: at the end
    /// when it is past every row here (a build, appended rows), else in its place.
    fn insert(&mut self, row: u64, vector: &[f32]) {
        let (codes, scale) = quantize(vector);
        let norm2: f64 = codes.iter().map(|&c| (c as f64 * scale as f64).powi(2)).sum();
        let at = self.rows.partition_point(|&r| r < row);
        let width = PARTITION_CODE_HEADER + codes.len();
        let encoded = (scale.to_le_bytes().into_iter())
            .chain((norm2 as f32).to_le_bytes())
            .chain(codes.iter().map(|&c| c as u8));
        self.rows.insert(at, row);
        self.codes.splice(at * width..at * width, encoded);
    }

    /// Takes out the rows that leave: those in `removed` (ascending), and the others
    /// renumbered, each less one for every removed row before it; and those in `replaced`
    /// (ascending), which rejoin with their new vectors. Fails on a row at or past `count`.
    fn drop_rows(&mut self, dims: usize, count: u64, change: &Change) -> Result<()> {
        let width = partition_code_bytes(dims);
        let mut kept = 0;
        for i in 0..self.rows.len() {
            let row = self.rows[i];
            if row >= count {
                bail!("names row {row}; the archive has {count}");
            }
            if change.replaced.binary_search(&row).is_ok() || change.removed.binary_search(&row).is_ok() {
                continue;
            }
            self.codes.copy_within(i * width..(i + 1) * width, kept * width);
            self.rows[kept] = change.renumbered(row);
            kept += 1;
        }
        self.rows.truncate(kept);
        self.codes.truncate(kept * width);
        Ok(())
    }
}

/// What an update does to the rows of a partitioned index.
pub struct Change<'a> {
    /// Rows of the base gone from the update, ascending: every later row is renumbered, less one
    /// for each removed row before it.
    pub removed: &'a [u64],
    /// Rows of the base whose vector the update replaces (in place), ascending.
    pub replaced: &'a [u64],
    /// Every row's vector in the update, row after row: the replaced rows' and those after the
    /// base's rows join the partitions of their nearest centroids.
    pub vectors: &'a [f32],
}

impl Change<'_> {
    /// The number base row `row` has in the update.
    fn renumbered(&self, row: u64) -> u64 {
        row - self.removed.partition_point(|&r| r < row) as u64
    }
}

/// Partitions `vectors` (rows of `dims` numbers) around `partitions` centroids. The result
/// depends only on the input, not on the number of threads.
pub fn build(vectors: &[f32], dims: usize, metric: Metric, partitions: usize) -> Built {
    let n = vectors.len() / dims;
    let k = partitions.clamp(1, n);
    let cos = metric == Metric::Cos;
    let centroids = kmeans::train(vectors, dims, k, space(metric), cos);
    let assigned = kmeans::assign(vectors, dims, &centroids, space(metric), cos);
    let mut members: Vec<Vec<u64>> = vec![Vec::new(); k];
    for (row, &c) in assigned.iter().enumerate() {
        members[c as usize].push(row as u64);
    }
    let parts = members
        .par_iter()
        .map(|rows| {
            let mut part = Part {
                rows: Vec::with_capacity(rows.len()),
                codes: Vec::with_capacity(rows.len() * partition_code_bytes(dims)),
            };
            for &row in rows {
                part.insert(row, &prepared(&vectors[row as usize * dims..][..dims], metric));
            }
            part
        })
        .collect();
    cut(centroids, parts, dims)
}

/// Updates the partitions `parts` (each its bytes as read) of an index with `centroids` over
/// `count` rows as `change` says: the removed and replaced rows leave their partitions and the
/// others are renumbered in order (less one for each removed row before them); then the
/// replaced rows, with their new vectors, and the rows after the base's each join the partition
/// of their nearest centroid, in row order. The centroids stay, and so does every chunk whose
/// bytes are unchanged: a partition's codes when no row leaves or joins it, its row list when
/// no row leaves or joins it and none before its rows is removed, and the full chunks of
/// either before its first change.
pub fn extend(centroids: &Centroids, parts: Vec<Vec<u8>>, count: u64, change: &Change) -> Result<Built> {
    let dims = centroids.dims;
    if parts.len() != centroids.data.len() / dims {
        bail!(
            "{} partitions for {} centroids",
            parts.len(),
            centroids.data.len() / dims
        );
    }
    let trimmed = |bytes| -> Result<Part> {
        let mut part = Part::read(bytes, dims)?;
        part.drop_rows(dims, count, change)?;
        Ok(part)
    };
    let mut parts: Vec<Part> = parts
        .into_par_iter()
        .enumerate()
        .map(|(p, bytes)| trimmed(bytes).with_context(|| format!("partition {p}")))
        .collect::<Result<_>>()?;
    let first_new = count - change.removed.len() as u64;
    let rows = (change.vectors.len() / dims) as u64;
    let replaced = change.replaced.iter().map(|&row| change.renumbered(row));
    let joining: Vec<u64> = replaced.chain(first_new..rows).collect();
    let vectors: Vec<f32> = (joining.iter())
        .flat_map(|&row| &change.vectors[row as usize * dims..][..dims])
        .copied()
        .collect();
    let cos = centroids.metric == Metric::Cos;
    let assigned = kmeans::assign(&vectors, dims, &centroids.data, space(centroids.metric), cos);
    for ((&row, vector), &p) in joining.iter().zip(vectors.chunks_exact(dims)).zip(&assigned) {
        parts[p as usize].insert(row, &prepared(vector, centroids.metric));
    }
    Ok(cut(centroids.data.clone(), parts, dims))
}

/// The index made of `centroids` and the partitions `parts`, each cut into chunks of
/// [`partition_rows_per_chunk`] rows: its row list's chunks and its codes' chunks.
fn cut(centroids: Vec<f32>, parts: Vec<Part>, dims: usize) -> Built {
    let per_chunk = partition_rows_per_chunk(dims);
    let sizes = parts.iter().map(|part| part.rows.len() as u64).collect();
    let (mut rows, mut codes) = (Vec::new(), Vec::new());
    // Each partition is dropped once cut, so its bytes are held twice only one at a time.
    for part in parts {
        let numbers = |chunk: &[u64]| chunk.iter().flat_map(|row| row.to_le_bytes()).collect();
        rows.extend(part.rows.chunks(per_chunk).map(numbers));
        let code_chunks = part.codes.chunks(per_chunk * partition_code_bytes(dims));
        codes.extend(code_chunks.map(<[u8]>::to_vec));
    }
    Built {
        centroids,
        sizes,
        rows,
        codes,
    }
}
