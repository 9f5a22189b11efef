//! k-means for the partitioned index: centroids trained on an evenly spread sample of the rows,
//! then every row assigned to its nearest centroid.
//!
//! The heavy part, every row against every centroid, is a matrix product (the `gemm` crate,
//! single-threaded per batch of rows, batches in parallel). Its float32 sums may differ in the
//! last bits between CPUs, so the result never rests on them alone: every centroid within a
//! float32 error bound of the best is scored again exactly in float64, in a fixed order, and the
//! best of those wins (the lowest number on a tie). So the centroids and the assignment are the
//! same at any thread count (tested) and, by design, on any machine.

use rayon::prelude::*;

use super::params::dot;

/// What "nearest" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// The largest dot product (cos on unit vectors, and ip).
    Dot,
    /// The smallest squared Euclidean distance.
    L2,
}

/// Rows scored against the centroids together.
const BATCH: usize = 512;
/// Lloyd iterations.
const ITERATIONS: usize = 12;
/// Sampled rows per centroid when training.
const SAMPLE_PER_CENTROID: usize = 48;

/// Trains `k` centroids on the rows of `vectors` (`dims` numbers each) and returns them, `k`
/// rows. With `unit`, every row is taken at unit length (as it is read: no copy of them all is
/// made) and every centroid kept at unit length (for cos).
pub fn train(vectors: &[f32], dims: usize, k: usize, space: Space, unit: bool) -> Vec<f32> {
    let n = vectors.len() / dims;
    let sample = spread(n, (k * SAMPLE_PER_CENTROID).min(n));
    let rows: Vec<f32> = sample
        .iter()
        .flat_map(|&r| taken(&vectors[r * dims..][..dims], unit))
        .collect();
    let first = spread(sample.len(), k);
    let mut centroids: Vec<f32> = first
        .iter()
        .flat_map(|&r| rows[r * dims..][..dims].iter().copied())
        .collect();
    for _ in 0..ITERATIONS {
        let assigned = assign(&rows, dims, &centroids, space, false);
        let mut sums = vec![0f64; k * dims];
        let mut counts = vec![0u64; k];
        for (row, &c) in rows.chunks_exact(dims).zip(&assigned) {
            counts[c as usize] += 1;
            for (s, &x) in sums[c as usize * dims..][..dims].iter_mut().zip(row) {
                *s += x as f64;
            }
        }
        for (c, &count) in counts.iter().enumerate() {
            // An empty cluster keeps its centroid.
            if count == 0 {
                continue;
            }
            let sum = &sums[c * dims..][..dims];
            let scale = if unit {
                let norm = sum.iter().map(|s| s * s).sum::<f64>().sqrt();
                if norm == 0.0 {
                    continue;
                }
                1.0 / norm
            } else {
                1.0 / count as f64
            };
            for (x, s) in centroids[c * dims..][..dims].iter_mut().zip(sum) {
                *x = (s * scale) as f32;
            }
        }
    }
    centroids
}

/// `count` row numbers spread evenly over `0..n`, ascending.
fn spread(n: usize, count: usize) -> Vec<usize> {
    (0..count)
        .map(|i| (i as u128 * n as u128 / count as u128) as usize)
        .collect()
}

/// A row as k-means sees it: scaled to unit length with `unit`.
fn taken(row: &[f32], unit: bool) -> Vec<f32> {
    if unit {
        super::params::unit(row)
    } else {
        row.to_vec()
    }
}

/// The nearest of `centroids` to every row of `vectors` (each taken at unit length with `unit`).
pub fn assign(vectors: &[f32], dims: usize, centroids: &[f32], space: Space, unit: bool) -> Vec<u32> {
    let k = centroids.len() / dims;
    let norms: Vec<f64> = centroids.chunks_exact(dims).map(|c| exact_dot(c, c)).collect();
    let largest = norms.iter().fold(0f64, |a, &b| a.max(b)).sqrt();
    vectors
        .par_chunks(BATCH * dims)
        .flat_map_iter(|batch| {
            let rows = batch.len() / dims;
            let scaled: Vec<f32>;
            let batch = if unit {
                scaled = batch.chunks_exact(dims).flat_map(|row| taken(row, true)).collect();
                &scaled[..]
            } else {
                batch
            };
            let dots = products(batch, centroids, dims, rows, k);
            (0..rows)
                .map(|r| {
                    let row = &batch[r * dims..][..dims];
                    nearest_of(row, &dots[r * k..][..k], centroids, &norms, largest, space)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The centroid nearest to `row`, given its float32 dot products with every centroid: those
/// within the float32 error bound of the best are compared again exactly.
fn nearest_of(row: &[f32], dots: &[f32], centroids: &[f32], norms: &[f64], largest: f64, space: Space) -> u32 {
    let dims = row.len();
    let fast = |c: usize| match space {
        Space::Dot => dots[c] as f64,
        Space::L2 => 2.0 * dots[c] as f64 - norms[c],
    };
    let exact = |c: usize| {
        let dot = exact_dot(row, &centroids[c * dims..][..dims]);
        match space {
            Space::Dot => dot,
            Space::L2 => 2.0 * dot - norms[c],
        }
    };
    let best = (0..dots.len()).map(fast).fold(f64::NEG_INFINITY, f64::max);
    // |error of a float32 dot product| <= dims · 2⁻²⁴ · |row| · |centroid|, twice that for l2.
    let bound = 4.0 * dims as f64 * f32::EPSILON as f64 * exact_dot(row, row).sqrt() * largest + 1e-30;
    let mut chosen = (f64::NEG_INFINITY, 0u32);
    for c in 0..dots.len() {
        if fast(c) >= best - 2.0 * bound || !fast(c).is_finite() {
            let score = exact(c);
            if score > chosen.0 {
                chosen = (score, c as u32);
            }
        }
    }
    chosen.1
}

/// The `n` nearest of `centroids` to `query` (`query.len()` numbers each), nearest first, in
/// float32 lanes added in a fixed order ([`dot`]), so the same on every run.
pub fn nearest(query: &[f32], centroids: &[f32], n: usize, space: Space) -> Vec<usize> {
    let dims = query.len();
    let mut scored: Vec<(f64, usize)> = centroids
        .chunks_exact(dims)
        .enumerate()
        .map(|(c, centroid)| {
            let score = match space {
                Space::Dot => dot(query, centroid),
                Space::L2 => 2.0 * dot(query, centroid) - dot(centroid, centroid),
            };
            (score, c)
        })
        .collect();
    let n = n.min(scored.len());
    let order = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if n > 0 && n < scored.len() {
        scored.select_nth_unstable_by(n - 1, order);
        scored.truncate(n);
    }
    scored.sort_by(order);
    scored.into_iter().map(|(_, c)| c).collect()
}

/// Σ aᵢbᵢ in float64, in order.
fn exact_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// The `rows` × `k` float32 dot products of the rows of `batch` with those of `centroids`.
fn products(batch: &[f32], centroids: &[f32], dims: usize, rows: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * k];
    // SAFETY: `out` is rows × k (row-major: column stride 1, row stride k); `batch` is rows ×
    // dims row-major; the right-hand side is `centroids` read as dims × k (column c is centroid
    // c: row stride 1, column stride dims). Every pointer covers what the strides reach.
    unsafe {
        gemm::gemm(
            rows,
            k,
            dims,
            out.as_mut_ptr(),
            1,
            k as isize,
            false,
            batch.as_ptr(),
            1,
            dims as isize,
            centroids.as_ptr(),
            dims as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_exact_dots() {
        let dims = 5;
        let rows: Vec<f32> = (0..3 * dims).map(|i| (i as f32 * 0.37).sin()).collect();
        let centroids: Vec<f32> = (0..4 * dims).map(|i| (i as f32 * 0.11).cos()).collect();
        let dots = products(&rows, &centroids, dims, 3, 4);
        for r in 0..3 {
            for c in 0..4 {
                let exact = exact_dot(&rows[r * dims..][..dims], &centroids[c * dims..][..dims]);
                assert!((dots[r * 4 + c] as f64 - exact).abs() < 1e-5, "row {r} centroid {c}");
            }
        }
    }

    #[test]
    fn two_clusters_are_found() {
        let dims = 2;
        let mut rows = Vec::new();
        for i in 0..50 {
            let t = i as f32 * 0.001;
            rows.extend([10.0 + t, 0.0]);
            rows.extend([-10.0, t]);
        }
        let centroids = train(&rows, dims, 2, Space::L2, false);
        let assigned = assign(&rows, dims, &centroids, Space::L2, false);
        assert!(assigned.chunks(2).all(|pair| pair[0] != pair[1]));
        assert!(assigned.iter().step_by(2).all(|&c| c == assigned[0]));
        assert_eq!(
            nearest(&[9.0, 0.0], &centroids, 1, Space::L2),
            vec![assigned[0] as usize]
        );
    }
}
