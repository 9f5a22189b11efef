//! Scanning partitions: a query quantized as the rows are, scored against each row's 8-bit
//! copy with a SIMD dot product.

use anyhow::{bail, Result};

use super::{numbers, prepared, quantize};
use crate::params::{partition_code_bytes, Metric, PARTITION_CODE_HEADER, PARTITION_ROW_NUMBER};

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

    /// Scores every row of a partition chunk, its row numbers `rows` and their codes `codes`,
    /// that `allowed` lets through against each of `probes`, higher is nearer (an estimate
    /// from the 8-bit copies), and hands each score to `keep(i, score, row)` for probe i. Each
    /// row is read once for all the probes, so a batch of queries reads a partition from memory
    /// once. Refuses chunks that are not the same whole rows or name a row at or past `count`.
    pub fn scan(
        probes: &[&Probe],
        rows: &[u8],
        codes: &[u8],
        count: u64,
        allowed: impl Fn(u64) -> bool,
        mut keep: impl FnMut(usize, f32, u64),
    ) -> Result<()> {
        let Some(first) = probes.first() else {
            return Ok(());
        };
        let width = partition_code_bytes(first.codes.len());
        let n = rows.len() / PARTITION_ROW_NUMBER;
        if rows.len() % PARTITION_ROW_NUMBER != 0 || codes.len() != n * width {
            bail!(
                "partition chunks of {} bytes of row numbers and {} of codes are not the same whole rows",
                rows.len(),
                codes.len()
            );
        }
        for (row, entry) in numbers(rows).zip(codes.chunks_exact(width)) {
            if row >= count {
                bail!("partition names row {row}; the archive has {count}");
            }
            if !allowed(row) {
                continue;
            }
            let scale = f32::from_le_bytes(entry[..4].try_into().expect("4 bytes"));
            let norm2 = f32::from_le_bytes(entry[4..8].try_into().expect("4 bytes"));
            for (i, probe) in probes.iter().enumerate() {
                let dot = dot_i8(&entry[PARTITION_CODE_HEADER..], &probe.codes) as f32 * scale * probe.scale;
                let score = match probe.metric {
                    Metric::Cos | Metric::Ip => dot,
                    Metric::L2 => 2.0 * dot - norm2 - probe.norm2,
                };
                keep(i, if score.is_nan() { f32::NEG_INFINITY } else { score }, row);
            }
        }
        Ok(())
    }
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

    #[test]
    fn simd_and_plain_dots_agree() {
        let a: Vec<u8> = (0..100).map(|i| (i * 37 % 255) as u8).collect();
        let b: Vec<i16> = (0..100).map(|i| (i * 13 % 255) as i16 - 127).collect();
        assert_eq!(dot_i8(&a, &b), dot_plain(&a, &b));
    }
}
