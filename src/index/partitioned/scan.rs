//! Scanning partitions: a query quantized as the rows are, scored against each row's 8-bit
//! copy with a SIMD dot product (AVX-512 VNNI or AVX2 where the CPU has them; the same integer
//! sums on every path).

use anyhow::{bail, Result};

use super::{numbers, prepared, quantize};
use crate::params::{partition_code_bytes, Metric, PARTITION_CODE_HEADER, PARTITION_ROW_NUMBER};

/// Rows scored together: each probe's codes are read once for this many rows, so a batch's
/// probes (too many for the first-level cache) are read from the next level a quarter as often.
const TILE: usize = 4;

/// A query made ready to scan partitions: quantized as the rows are.
pub struct Probe {
    codes: Vec<i8>,
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
            codes,
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
        let kernel = Kernel::detect();
        let mut tile = Tile::default();
        let mut dots = vec![0; probes.len() * TILE];
        for (row, entry) in numbers(rows).zip(codes.chunks_exact(width)) {
            if row >= count {
                bail!("partition names row {row}; the archive has {count}");
            }
            if allowed(row) {
                tile.rows[tile.len] = row;
                tile.entries[tile.len] = entry;
                tile.len += 1;
            }
            if tile.len == TILE {
                tile.score(kernel, probes, &mut dots, &mut keep);
            }
        }
        tile.score(kernel, probes, &mut dots, &mut keep);
        Ok(())
    }
}

/// Up to [`TILE`] rows waiting to be scored: their numbers and entries (header, then codes).
#[derive(Default)]
struct Tile<'a> {
    rows: [u64; TILE],
    entries: [&'a [u8]; TILE],
    len: usize,
}

impl Tile<'_> {
    /// Scores the rows against every probe, hands the scores to `keep` as [`Probe::scan`] says,
    /// and empties the tile.
    fn score(&mut self, kernel: Kernel, probes: &[&Probe], dots: &mut [i32], keep: &mut impl FnMut(usize, f32, u64)) {
        let n = std::mem::take(&mut self.len);
        if n == 0 {
            return;
        }
        let codes = self.entries.map(|e| e.get(PARTITION_CODE_HEADER..).unwrap_or_default());
        kernel.dots(&codes[..n], probes, &mut dots[..probes.len() * n]);
        // Each row's scale and squared length (an unfilled place of the tile reads 0).
        let header = |at: usize| {
            let number = |b: &[u8]| f32::from_le_bytes(b.try_into().expect("4 bytes"));
            self.entries.map(|e| e.get(at..at + 4).map_or(0.0, number))
        };
        let (scales, norms) = (header(0), header(4));
        for (i, (probe, dots)) in probes.iter().zip(dots.chunks_exact(n)).enumerate() {
            for (r, &dot) in dots.iter().enumerate() {
                let dot = dot as f32 * scales[r] * probe.scale;
                let score = match probe.metric {
                    Metric::Cos | Metric::Ip => dot,
                    Metric::L2 => 2.0 * dot - norms[r] - probe.norm2,
                };
                keep(i, if score.is_nan() { f32::NEG_INFINITY } else { score }, self.rows[r]);
            }
        }
    }
}

/// The i8 dot products this CPU runs: each gives exactly the sums of [`dot_plain`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kernel {
    Plain,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl Kernel {
    /// The fastest this CPU has.
    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                return Kernel::Vnni;
            }
            if has!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Plain
    }

    /// `out[i * rows.len() + r]` = the dot product of row r's codes (signed bytes, as stored;
    /// at most [`TILE`] rows) with `probes[i]`'s. The loops are compiled for the kernel's
    /// instructions, so its dot product is inlined.
    fn dots(self, rows: &[&[u8]], probes: &[&Probe], out: &mut [i32]) {
        match self {
            Kernel::Plain => {
                for (p, out) in probes.iter().zip(out.chunks_exact_mut(rows.len())) {
                    rows.iter()
                        .zip(out)
                        .for_each(|(row, out)| *out = dot_plain(row, &p.codes));
                }
            }
            // SAFETY: detect chose these kernels only on a CPU with their features.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { dots_avx2(rows, probes, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe {
                match rows.len() {
                    1 => dots_vnni::<1>(rows, probes, out),
                    2 => dots_vnni::<2>(rows, probes, out),
                    3 => dots_vnni::<3>(rows, probes, out),
                    TILE => dots_vnni::<TILE>(rows, probes, out),
                    _ => {}
                }
            },
        }
    }
}

/// Σ aᵢbᵢ of a row's signed bytes `a` (as stored) and a query's codes `b`, without SIMD.
fn dot_plain(a: &[u8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |sum, (&x, &y)| {
        sum.wrapping_add(i32::from(x as i8) * i32::from(y))
    })
}

/// [`Kernel::dots`] with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2(rows: &[&[u8]], probes: &[&Probe], out: &mut [i32]) {
    for (p, out) in probes.iter().zip(out.chunks_exact_mut(rows.len())) {
        for (row, out) in rows.iter().zip(out) {
            *out = dot_avx2(row, &p.codes);
        }
    }
}

/// [`dot_plain`] with AVX2: both sides widened to i16, 16 products per instruction, summed in
/// pairs into 8 i32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_avx2(a: &[u8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both loads stay inside the slices.
        let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
        let y = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    let head = lanes.iter().fold(0i32, |sum, &x| sum.wrapping_add(x));
    head.wrapping_add(dot_plain(&a[i..n], &b[i..n]))
}

/// [`Kernel::dots`] with AVX-512 VNNI for `R` rows (all as long as the probes' codes): 64
/// products per instruction, summed in fours into 16 i32 lanes, each 64 bytes of a probe's
/// codes read once for the R rows. VNNI multiplies unsigned bytes by signed ones: the probe's
/// codes are read plus 128 (their top bit flipped), and 128 times the sum of the row's codes is
/// taken off. The last bytes are read under a mask, as zeros on both sides.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dots_vnni<const R: usize>(rows: &[&[u8]], probes: &[&Probe], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let Some(first) = probes.first() else {
        return;
    };
    let n = first.codes.len();
    assert!(rows.len() == R && rows.iter().all(|r| r.len() == n) && probes.iter().all(|p| p.codes.len() == n));
    let mask = |i: usize| if n - i >= 64 { u64::MAX } else { (1u64 << (n - i)) - 1 };
    // SAFETY (every load): i < n, and the mask leaves out every byte at or past n, which is
    // then not read.
    let load = |bytes: *const u8, i: usize| unsafe { _mm512_maskz_loadu_epi8(mask(i), bytes.add(i) as *const i8) };
    let mut offset = [0i32; R];
    for (row, offset) in rows.iter().zip(&mut offset) {
        let mut acc = _mm512_setzero_si512();
        for i in (0..n).step_by(64) {
            acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi8(1), load(row.as_ptr(), i));
        }
        *offset = _mm512_reduce_add_epi32(acc).wrapping_mul(128);
    }
    for (p, out) in probes.iter().zip(out.chunks_exact_mut(R)) {
        let mut acc = [_mm512_setzero_si512(); R];
        for i in (0..n).step_by(64) {
            let q = _mm512_xor_si512(load(p.codes.as_ptr() as *const u8, i), _mm512_set1_epi8(i8::MIN));
            for (acc, row) in acc.iter_mut().zip(rows) {
                *acc = _mm512_dpbusd_epi32(*acc, q, load(row.as_ptr(), i));
            }
        }
        for ((out, acc), offset) in out.iter_mut().zip(acc).zip(offset) {
            *out = _mm512_reduce_add_epi32(acc).wrapping_sub(offset);
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a seeded generator, a tenth of them at the ends of the range (-127, 127, and
    /// -128, which an archive's rows may hold though vecar writes none).
    fn bytes(n: usize, seed: &mut u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let r = (*seed >> 33) as u32;
                match r % 20 {
                    0 => 127,
                    1 => (-127i8) as u8,
                    2 if r % 7 == 0 => 0x80,
                    _ => (r >> 8) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn every_dot_product_this_cpu_has_gives_the_plain_sums() {
        let mut kernels = vec![Kernel::Plain];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2);
            }
            if Kernel::detect() == Kernel::Vnni {
                kernels.push(Kernel::Vnni);
            }
        }
        eprintln!("kernels: {kernels:?}");
        let mut seed = 7;
        for dims in (0..=200).chain([383, 384, 385, 1024, 1031]) {
            let probes: Vec<Probe> = (0..3)
                .map(|p| Probe {
                    codes: match p {
                        0 => vec![127; dims],
                        1 => vec![-127; dims],
                        _ => bytes(dims, &mut seed)
                            .into_iter()
                            .map(|b| (b as i8).max(-127))
                            .collect(),
                    },
                    scale: 1.0,
                    norm2: 0.0,
                    metric: Metric::Ip,
                })
                .collect();
            let probes: Vec<&Probe> = probes.iter().collect();
            for tile in 1..=TILE {
                let rows: Vec<Vec<u8>> = (0..tile).map(|_| bytes(dims, &mut seed)).collect();
                let rows: Vec<&[u8]> = rows.iter().map(|r| r.as_slice()).collect();
                let want: Vec<i32> = probes
                    .iter()
                    .flat_map(|p| rows.iter().map(|r| dot_plain(r, &p.codes)))
                    .collect();
                for &kernel in &kernels {
                    let mut got = vec![0; want.len()];
                    kernel.dots(&rows, &probes, &mut got);
                    assert_eq!(got, want, "{kernel:?} at {dims} dimensions, {tile} rows");
                }
            }
        }
        let all = [127u8; 64];
        assert_eq!(dot_plain(&all, &[127; 64]), 64 * 127 * 127);
    }
}
