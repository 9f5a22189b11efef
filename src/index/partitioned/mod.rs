//! The partitioned index: k-means centroids, and per centroid a partition listing the rows
//! nearest to it with an 8-bit copy of their vectors. A query scans the partitions of its
//! `nprobe` nearest centroids and re-scores the best candidates from the float32 vectors, so it
//! reads the centroids and a few partitions, not the whole index (docs/FORMAT.md).
//!
//! A partition is its rows' numbers (u64 each, ascending) and, apart from them, their codes:
//! per row [`PARTITION_CODE_HEADER`] bytes (scale f32, squared length f32 of the dequantized
//! vector, little-endian) then `dimensions` signed bytes, the vector (the unit vector for cos)
//! divided by the scale, rounded. Rows and codes are separate blocks, so renumbering rows (after
//! `rm`) rewrites only the small row lists. Read, a partition's bytes are its row numbers, then
//! its codes ([`split`]).

use anyhow::{bail, Result};

use super::kmeans::{self, Space};
use super::params::unit;
use crate::params::{partition_row_bytes, Metric, PARTITION_ROW_NUMBER};

mod build;
mod scan;

pub use build::{build, extend, Built, Change};
pub use scan::Probe;

/// Partitions when none is given: about √n.
pub fn default_partitions(rows: usize) -> usize {
    ((rows as f64).sqrt().round() as usize).max(1)
}

/// The nearness k-means and probing use for `metric`.
fn space(metric: Metric) -> Space {
    match metric {
        Metric::Cos | Metric::Ip => Space::Dot,
        Metric::L2 => Space::L2,
    }
}

/// `vector` as signed bytes times a scale: the largest magnitude maps to 127.
fn quantize(vector: &[f32]) -> (Vec<i8>, f32) {
    let largest = vector.iter().fold(0f32, |a, &x| a.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return (vec![0; vector.len()], 0.0);
    }
    let scale = largest / 127.0;
    let codes = vector
        .iter()
        .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, scale)
}

/// The centroids of a partitioned index, read from its verified bytes.
pub struct Centroids {
    data: Vec<f32>,
    dims: usize,
    metric: Metric,
}

impl Centroids {
    /// Reads `count` centroids of `dims` numbers from little-endian float32 bytes, refusing
    /// bytes of another length or numbers that are not finite.
    pub fn read(bytes: &[u8], count: usize, dims: usize, metric: Metric) -> Result<Centroids> {
        if bytes.len() != count * dims * 4 {
            bail!(
                "index: {} bytes of centroids; {count} of {dims} dimensions take {}",
                bytes.len(),
                count * dims * 4
            );
        }
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            bail!("index: centroid {} holds a number that is not finite", i / dims);
        }
        Ok(Centroids { data, dims, metric })
    }

    /// The `n` partitions nearest to `query`, nearest first.
    pub fn probe(&self, query: &[f32], n: usize) -> Vec<usize> {
        let query = prepared(query, self.metric);
        kmeans::nearest(&query, &self.data, n, space(self.metric))
    }
}

/// The query as the index holds rows: a unit vector for cos.
fn prepared(query: &[f32], metric: Metric) -> Vec<f32> {
    match metric {
        Metric::Cos => unit(query),
        _ => query.to_vec(),
    }
}

/// A partition's bytes as read (its row numbers, then its codes), split in two; fails on bytes
/// that are not whole rows.
pub fn split(part: &[u8], dims: usize) -> Result<(&[u8], &[u8])> {
    let width = partition_row_bytes(dims);
    if part.len() % width != 0 {
        bail!("partition of {} bytes is not whole rows of {width}", part.len());
    }
    Ok(part.split_at(part.len() / width * PARTITION_ROW_NUMBER))
}

/// The row numbers in a partition's row list.
fn numbers(rows: &[u8]) -> impl Iterator<Item = u64> + '_ {
    rows.chunks_exact(PARTITION_ROW_NUMBER)
        .map(|n| u64::from_le_bytes(n.try_into().expect("8 bytes")))
}

/// The rows a partition lists (its bytes as read), in order; fails on bytes that are not whole
/// rows.
pub fn rows_of(part: &[u8], dims: usize) -> Result<Vec<u64>> {
    Ok(numbers(split(part, dims)?.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of `dims` numbers in [-1, 1), spread without a pattern k-means would follow.
    fn sample(n: usize, dims: usize) -> Vec<f32> {
        (0..n * dims)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// Each partition of `built` as a reader gets it: its row list, then its codes (here each
    /// partition is one chunk of each).
    fn as_read(built: &Built) -> Vec<Vec<u8>> {
        built
            .rows
            .iter()
            .zip(&built.codes)
            .map(|(r, c)| [r.as_slice(), c].concat())
            .collect()
    }

    #[test]
    fn a_row_finds_itself_first() {
        let dims = 8;
        let vectors = sample(200, dims);
        for metric in [Metric::Cos, Metric::L2, Metric::Ip] {
            let built = build(&vectors, dims, metric, 10);
            assert_eq!(built.sizes.iter().sum::<u64>(), 200);
            let bytes: Vec<u8> = built.centroids.iter().flat_map(|x| x.to_le_bytes()).collect();
            let centroids = Centroids::read(&bytes, 10, dims, metric).unwrap();
            let query = &vectors[37 * dims..][..dims];
            let probe = Probe::new(query, metric);
            let mut hits = Vec::new();
            for (rows, codes) in built.rows.iter().zip(&built.codes) {
                Probe::scan(&[&probe], rows, codes, 200, |_| true, |_, s, r| hits.push((s, r))).unwrap();
            }
            hits.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top: Vec<u64> = hits.iter().take(3).map(|h| h.1).collect();
            assert!(metric == Metric::Ip || top[0] == 37, "{metric:?}: {top:?}");
            assert!(centroids.probe(query, 10).len() == 10);
        }
    }

    #[test]
    fn removed_rows_leave_their_partitions_and_only_the_row_lists_after_them_change() {
        let dims = 8;
        let vectors = sample(200, dims);
        let built = build(&vectors, dims, Metric::L2, 4);
        let bytes: Vec<u8> = built.centroids.iter().flat_map(|x| x.to_le_bytes()).collect();
        let centroids = Centroids::read(&bytes, 4, dims, Metric::L2).unwrap();
        assert_eq!(built.rows.len(), 4, "each partition one chunk");
        let gone = [3, 199];
        let change = |removed, replaced, vectors| Change {
            removed,
            replaced,
            vectors,
        };
        let trimmed = extend(&centroids, as_read(&built), 200, &change(&gone, &[], &[])).unwrap();
        let mut rows: Vec<u64> = as_read(&trimmed)
            .iter()
            .flat_map(|p| rows_of(p, dims).unwrap())
            .collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..198).collect::<Vec<u64>>());
        // A partition's codes change only if it lost a row; its row list if it held a row
        // after the first removed one.
        for (p, part) in as_read(&built).iter().enumerate() {
            let held = rows_of(part, dims).unwrap();
            let lost = held.iter().any(|r| gone.contains(r));
            assert_eq!(trimmed.codes[p] == built.codes[p], !lost, "partition {p}");
            assert_eq!(
                trimmed.rows[p] == built.rows[p],
                held.iter().all(|&r| r < 3),
                "partition {p}"
            );
        }
        // Taking the last row out and adding its vector back gives the same index.
        let again = extend(&centroids, as_read(&built), 200, &change(&[199], &[], &vectors)).unwrap();
        assert_eq!((&again.rows, &again.codes), (&built.rows, &built.codes));
        // Replacing rows with their own vectors gives it too; with others, they move.
        let same = extend(&centroids, as_read(&built), 200, &change(&[], &[0, 57, 199], &vectors)).unwrap();
        assert_eq!((&same.rows, &same.codes), (&built.rows, &built.codes));
        let mut moved = vectors.clone();
        moved.copy_within(..dims, 57 * dims);
        let other = extend(&centroids, as_read(&built), 200, &change(&[], &[57], &moved)).unwrap();
        let at = |b: &Built, row| as_read(b).iter().position(|p| rows_of(p, dims).unwrap().contains(&row));
        assert_eq!(at(&other, 57), at(&built, 0));
        assert_eq!(other.sizes.iter().sum::<u64>(), 200);
    }
}
