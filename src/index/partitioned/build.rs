//! Building partitions (every row assigned to its nearest centroid) and updating them in place
//! (rows removed and renumbered, new rows appended), then cutting them into chunks.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use super::{kmeans, numbers, prepared, quantize, space, split, Centroids};
use crate::params::{partition_code_bytes, partition_rows_per_chunk, Metric, PARTITION_ROW_NUMBER};

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

    /// Appends `row` and its vector (as the index holds it), quantized.
    fn push(&mut self, row: u64, vector: &[f32]) {
        let (codes, scale) = quantize(vector);
        let norm2: f64 = codes.iter().map(|&c| (c as f64 * scale as f64).powi(2)).sum();
        self.rows.push(row);
        self.codes.extend(scale.to_le_bytes());
        self.codes.extend((norm2 as f32).to_le_bytes());
        self.codes.extend(codes.iter().map(|&c| c as u8));
    }

    /// Takes the rows in `removed` (ascending) out and renumbers the others, each less one for
    /// every removed row before it. Fails on a row at or past `count`.
    fn drop_rows(&mut self, dims: usize, count: u64, removed: &[u64]) -> Result<()> {
        let width = partition_code_bytes(dims);
        let mut kept = 0;
        for i in 0..self.rows.len() {
            let row = self.rows[i];
            if row >= count {
                bail!("names row {row}; the archive has {count}");
            }
            let before = removed.partition_point(|&r| r < row);
            if removed.get(before) == Some(&row) {
                continue;
            }
            self.codes.copy_within(i * width..(i + 1) * width, kept * width);
            self.rows[kept] = row - before as u64;
            kept += 1;
        }
        self.rows.truncate(kept);
        self.codes.truncate(kept * width);
        Ok(())
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
                part.push(row, &prepared(&vectors[row as usize * dims..][..dims], metric));
            }
            part
        })
        .collect();
    cut(centroids, parts, dims)
}

/// Updates the partitions `parts` (each its bytes as read) of an index with `centroids` over
/// `count` rows: the rows in `removed` (ascending) leave their partitions and the others are
/// renumbered in order (less one for each removed row before them); then the rows of
/// `vectors`, numbered on from the last kept row, each join the partition of its nearest
/// centroid. The centroids stay, and so does every chunk whose bytes are unchanged: a
/// partition's codes when no row leaves or joins it, its row list when no row leaves or joins
/// it and none before its rows is removed, and the full chunks of either before its first
/// change.
pub fn extend(
    centroids: &Centroids,
    parts: Vec<Vec<u8>>,
    count: u64,
    removed: &[u64],
    vectors: &[f32],
) -> Result<Built> {
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
        part.drop_rows(dims, count, removed)?;
        Ok(part)
    };
    let mut parts: Vec<Part> = parts
        .into_par_iter()
        .enumerate()
        .map(|(p, bytes)| trimmed(bytes).with_context(|| format!("partition {p}")))
        .collect::<Result<_>>()?;
    let first_row = count - removed.len() as u64;
    let cos = centroids.metric == Metric::Cos;
    let assigned = kmeans::assign(vectors, dims, &centroids.data, space(centroids.metric), cos);
    for (i, (vector, &p)) in vectors.chunks_exact(dims).zip(&assigned).enumerate() {
        parts[p as usize].push(first_row + i as u64, &prepared(vector, centroids.metric));
    }
    Ok(cut(centroids.data.clone(), parts, dims))
}

/// The index made of `centroids` and the partitions `parts`, each cut into chunks of
/// [`partition_rows_per_chunk`] rows: its row list's chunks and its codes' chunks.
fn cut(centroids: Vec<f32>, parts: Vec<Part>, dims: usize) -> Built {
    let per_chunk = partition_rows_per_chunk(dims);
    let sizes = parts.iter().map(|part| part.rows.len() as u64).collect();
    let (mut rows, mut codes) = (Vec::new(), Vec::new());
    for part in &parts {
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
