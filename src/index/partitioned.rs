//! The partitioned index: k-means centroids, and per centroid a partition listing the rows
//! nearest to it with an 8-bit copy of their vectors. A query scans the partitions of its
//! `nprobe` nearest centroids and re-scores the best candidates from the float32 vectors, so it
//! reads the centroids and a few partitions, not the whole index (docs/FORMAT.md).
//!
//! A partition chunk is a run of rows, each [`PARTITION_ROW_HEADER`] bytes (row number u64,
//! scale f32, squared length f32 of the dequantized vector, little-endian) then `dimensions`
//! signed bytes: the vector (the unit vector for cos) divided by the scale, rounded.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use super::kmeans::{self, Space};
use super::params::unit;
use crate::params::{partition_row_bytes, partition_rows_per_chunk, Metric, PARTITION_ROW_HEADER};

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

/// A built partitioned index.
pub struct Built {
    /// The centroids, float32 rows in partition order.
    pub centroids: Vec<f32>,
    /// Rows in each partition.
    pub sizes: Vec<u64>,
    /// The partition chunks, partition after partition, each at most
    /// [`partition_rows_per_chunk`] rows.
    pub chunks: Vec<Vec<u8>>,
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
            let mut out = Vec::with_capacity(rows.len() * partition_row_bytes(dims));
            for &row in rows {
                encode_row(
                    row,
                    &prepared(&vectors[row as usize * dims..][..dims], metric),
                    &mut out,
                );
            }
            out
        })
        .collect();
    cut(centroids, parts, dims)
}

/// Updates the partitions `parts` of an index with `centroids` over `count` rows: the rows in
/// `removed` (ascending) leave their partitions and the others are renumbered in order (less one
/// for each removed row before them); then the rows of `vectors`, numbered on from the last
/// kept row, each join the partition of its nearest centroid. The centroids stay, and so does
/// every chunk whose rows and numbers are unchanged: all of a partition no row leaves or joins
/// when no removed row comes before its rows, and a partition's full chunks before its first
/// change.
pub fn extend(
    centroids: &Centroids,
    mut parts: Vec<Vec<u8>>,
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
    parts
        .par_iter_mut()
        .enumerate()
        .try_for_each(|(p, part)| drop_rows(part, dims, count, removed).with_context(|| format!("partition {p}")))?;
    let first_row = count - removed.len() as u64;
    let cos = centroids.metric == Metric::Cos;
    let assigned = kmeans::assign(vectors, dims, &centroids.data, space(centroids.metric), cos);
    for (i, (vector, &p)) in vectors.chunks_exact(dims).zip(&assigned).enumerate() {
        encode_row(
            first_row + i as u64,
            &prepared(vector, centroids.metric),
            &mut parts[p as usize],
        );
    }
    Ok(cut(centroids.data.clone(), parts, dims))
}

/// Takes the rows in `removed` (ascending) out of the partition `part` and renumbers the others
/// in place, each less one for every removed row before it. Fails on a partition that is not
/// whole rows or names a row at or past `count`.
fn drop_rows(part: &mut Vec<u8>, dims: usize, count: u64, removed: &[u64]) -> Result<()> {
    let width = partition_row_bytes(dims);
    let mut kept = 0;
    for (i, row) in rows_of(part, dims)?.into_iter().enumerate() {
        if row >= count {
            bail!("names row {row}; the archive has {count}");
        }
        let before = removed.partition_point(|&r| r < row);
        if removed.get(before) == Some(&row) {
            continue;
        }
        part.copy_within(i * width..(i + 1) * width, kept);
        part[kept..kept + 8].copy_from_slice(&(row - before as u64).to_le_bytes());
        kept += width;
    }
    part.truncate(kept);
    Ok(())
}

/// The index made of `centroids` and the partitions `parts` (each its rows' bytes), every
/// partition cut into chunks of [`partition_rows_per_chunk`] rows.
fn cut(centroids: Vec<f32>, parts: Vec<Vec<u8>>, dims: usize) -> Built {
    let width = partition_row_bytes(dims);
    let sizes = parts.iter().map(|part| (part.len() / width) as u64).collect();
    let chunk_bytes = partition_rows_per_chunk(dims) * width;
    let chunks = parts
        .into_iter()
        .flat_map(|part| part.chunks(chunk_bytes).map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect();
    Built {
        centroids,
        sizes,
        chunks,
    }
}

/// Appends `row` and its vector, quantized, to `out`.
fn encode_row(row: u64, vector: &[f32], out: &mut Vec<u8>) {
    let (codes, scale) = quantize(vector);
    let norm2: f64 = codes.iter().map(|&c| (c as f64 * scale as f64).powi(2)).sum();
    out.extend(row.to_le_bytes());
    out.extend(scale.to_le_bytes());
    out.extend((norm2 as f32).to_le_bytes());
    out.extend(codes.iter().map(|&c| c as u8));
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

/// A query made ready to scan partitions: quantized as the rows are.
pub struct Probe {
    codes: Vec<i16>,
    scale: f32,
    norm2: f32,
    metric: Metric,
}

impl Probe {
    /// Prepares `query` for scanning under `metric`.
    pub fn new(query: &[f32], metric: Metric) -> Probe {
        let query = prepared(query, metric);
        let (codes, scale) = quantize(&query);
        let norm2 = query.iter().map(|&x| x * x).sum();
        Probe {
            codes: codes.into_iter().map(i16::from).collect(),
            scale,
            norm2,
            metric,
        }
    }

    /// Scores every row of the partition chunk `chunk` that `allowed` lets through against each
    /// of `probes`, higher is nearer (an estimate from the 8-bit copies): probe i's (score, row)
    /// pairs go to `out[i]`. Each row is read once for all the probes, so a batch of queries
    /// reads a partition from memory once. Refuses a chunk that is not whole rows or names a
    /// row at or past `count`.
    pub fn scan(
        probes: &[&Probe],
        chunk: &[u8],
        count: u64,
        allowed: impl Fn(u64) -> bool,
        out: &mut [Vec<(f32, u64)>],
    ) -> Result<()> {
        let Some(first) = probes.first() else {
            return Ok(());
        };
        let width = partition_row_bytes(first.codes.len());
        if chunk.len() % width != 0 {
            bail!("partition chunk of {} bytes is not whole rows of {width}", chunk.len());
        }
        out.iter_mut().for_each(|out| out.reserve(chunk.len() / width));
        for entry in chunk.chunks_exact(width) {
            let row = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
            if row >= count {
                bail!("partition names row {row}; the archive has {count}");
            }
            if !allowed(row) {
                continue;
            }
            let scale = f32::from_le_bytes(entry[8..12].try_into().expect("4 bytes"));
            let norm2 = f32::from_le_bytes(entry[12..16].try_into().expect("4 bytes"));
            for (probe, out) in probes.iter().zip(out.iter_mut()) {
                let dot = dot_i8(&entry[PARTITION_ROW_HEADER..], &probe.codes) as f32 * scale * probe.scale;
                let score = match probe.metric {
                    Metric::Cos | Metric::Ip => dot,
                    Metric::L2 => 2.0 * dot - norm2 - probe.norm2,
                };
                out.push((if score.is_nan() { f32::NEG_INFINITY } else { score }, row));
            }
        }
        Ok(())
    }
}

/// The rows a partition chunk lists, in order; fails on a chunk that is not whole rows.
pub fn rows_of(chunk: &[u8], dims: usize) -> Result<Vec<u64>> {
    let width = partition_row_bytes(dims);
    if chunk.len() % width != 0 {
        bail!("partition chunk of {} bytes is not whole rows of {width}", chunk.len());
    }
    Ok(chunk
        .chunks_exact(width)
        .map(|e| u64::from_le_bytes(e[..8].try_into().expect("8 bytes")))
        .collect())
}

/// Σ aᵢbᵢ of signed bytes (`a`, as stored) and a query's codes widened to i16.
fn dot_i8(a: &[u8], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_avx2(a, b) };
    }
    dot_plain(a, b)
}

/// [`dot_i8`] without SIMD instructions.
fn dot_plain(a: &[u8], b: &[i16]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i8 as i32 * y as i32).sum()
}

/// [`dot_i8`] with AVX2: 16 products per instruction, summed in pairs into 8 i32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[u8], b: &[i16]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both loads stay inside the slices.
        let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
        let y = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    lanes.iter().sum::<i32>() + dot_plain(&a[i..n], &b[i..n])
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

    #[test]
    fn simd_and_plain_dots_agree() {
        let a: Vec<u8> = (0..100).map(|i| (i * 37 % 255) as u8).collect();
        let b: Vec<i16> = (0..100).map(|i| (i * 13 % 255) as i16 - 127).collect();
        assert_eq!(dot_i8(&a, &b), dot_plain(&a, &b));
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
            let mut hits = [Vec::new()];
            for chunk in &built.chunks {
                Probe::scan(&[&probe], chunk, 200, |_| true, &mut hits).unwrap();
            }
            let [mut hits] = hits;
            hits.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top: Vec<u64> = hits.iter().take(3).map(|h| h.1).collect();
            assert!(metric == Metric::Ip || top[0] == 37, "{metric:?}: {top:?}");
            assert!(centroids.probe(query, 10).len() == 10);
        }
    }

    #[test]
    fn removed_rows_leave_their_partitions_and_the_others_are_renumbered() {
        let dims = 8;
        let vectors = sample(200, dims);
        let built = build(&vectors, dims, Metric::L2, 4);
        let bytes: Vec<u8> = built.centroids.iter().flat_map(|x| x.to_le_bytes()).collect();
        let centroids = Centroids::read(&bytes, 4, dims, Metric::L2).unwrap();
        let parts = built.chunks.clone();
        assert_eq!(parts.len(), 4, "each partition one chunk");
        let trimmed = extend(&centroids, parts.clone(), 200, &[197, 199], &[]).unwrap();
        let mut rows: Vec<u64> = trimmed.chunks.iter().flat_map(|c| rows_of(c, dims).unwrap()).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..198).collect::<Vec<u64>>());
        // A partition without rows from 197 on keeps its bytes; the others change.
        let untouched = |part: &Vec<u8>| rows_of(part, dims).unwrap().iter().all(|&row| row < 197);
        assert!(parts.iter().any(untouched) && !parts.iter().all(untouched));
        for part in &parts {
            assert_eq!(trimmed.chunks.contains(part), untouched(part));
        }
        // Taking the last row out and adding its vector back gives the same index.
        let again = extend(&centroids, parts, 200, &[199], &vectors[199 * dims..]).unwrap();
        assert_eq!(again.chunks, built.chunks);
    }
}
