//! Writing an archive as a FAISS index file (docs/FAISS.md): IndexFlatL2/IP of its vectors, or
//! IndexHNSWFlat whose graph is the archive's usearch graph, rows for ids.

use std::io::Write;

use anyhow::{ensure, Result};

use crate::archive::read::Archive;
use crate::index::hnsw;
use crate::index::params::unit;
use crate::params::Metric;
use crate::progress;

/// The two unused 64-bit fields of every header hold this.
const HEADER_DUMMY: i64 = 1 << 20;
/// FAISS's smallest level probability: levels less likely than this get none.
const MIN_LEVEL_PROBABILITY: f64 = 1e-9;

/// Writes an IndexFlatL2 (l2) or IndexFlatIP (ip, and cos over unit-length vectors) of the
/// archive's vectors, in row order; gives the number of vectors.
pub fn flat(archive: &Archive, out: &mut dyn Write) -> Result<u64> {
    let m = &archive.manifest;
    let metric = m.index.params.metric;
    let code = if metric == Metric::L2 { b"IxF2" } else { b"IxFI" };
    out.write_all(code)?;
    header(out, archive)?;
    out.write_all(&(m.count * m.dimensions).to_le_bytes())?;
    let mut written = 0u64;
    let mut bytes = Vec::new();
    let bar = progress::bar(m.count, "export", "vectors");
    for chunk in &archive.vectors_list()?.chunks {
        let vectors = archive.vectors_in(chunk)?;
        bytes.clear();
        for vector in vectors.chunks_exact(m.dimensions as usize) {
            let unit_length;
            let vector = match metric {
                Metric::Cos => {
                    unit_length = unit(vector);
                    &unit_length
                }
                Metric::Ip | Metric::L2 => vector,
            };
            bytes.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
            written += 1;
        }
        out.write_all(&bytes)?;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// Writes an IndexHNSWFlat whose graph is the archive's HNSW graph, node for node and link for
/// link (usearch slots become rows), over [`flat`] storage; gives the number of vectors.
pub fn hnsw(archive: &Archive, out: &mut dyn Write) -> Result<u64> {
    let m = &archive.manifest;
    let params = &m.index.params;
    ensure!(
        m.index.partitions.is_none(),
        "{}: its index is partitioned, not an HNSW graph: export it with --faiss-index flat",
        archive.name()
    );
    ensure!(
        m.count <= i32::MAX as u64,
        "{}: FAISS's HNSW graph holds at most {} vectors",
        archive.name(),
        i32::MAX
    );
    let bytes = archive.index_bytes()?;
    let graph = hnsw::graph(&bytes, m.dimensions, m.count, params)?;
    let (connectivity, base) = graph.connectivity();
    let (probabilities, cumulative) = levels(connectivity, base, graph.max_level());
    let slots = graph.slots();
    // FAISS keeps, per node, its number of levels and where its links start.
    let levels: Vec<i32> = slots.iter().map(|&slot| graph.level(slot) as i32 + 1).collect();
    let mut offsets = Vec::with_capacity(levels.len() + 1);
    offsets.push(0u64);
    for &level in &levels {
        offsets.push(offsets[offsets.len() - 1] + cumulative[level as usize] as u64);
    }

    out.write_all(b"IHNf")?;
    header(out, archive)?;
    vector(out, &probabilities, |x| x.to_le_bytes())?;
    vector(out, &cumulative, |x| x.to_le_bytes())?;
    vector(out, &levels, |x| x.to_le_bytes())?;
    vector(out, &offsets, |x| x.to_le_bytes())?;
    out.write_all(&offsets[offsets.len() - 1].to_le_bytes())?;
    let mut links = Vec::new();
    for (&slot, &node_levels) in slots.iter().zip(&levels) {
        links.clear();
        for level in 0..node_levels as usize {
            let room = (cumulative[level + 1] - cumulative[level]) as usize;
            let start = links.len();
            links.extend(graph.links(slot, level as u64).map(|row| row as i32));
            links.resize(start + room, -1);
        }
        out.write_all(&links.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())?;
    }
    let entry = graph.entry_row() as i32;
    let settings = [
        entry,
        graph.max_level() as i32,
        params.expansion_add as i32,
        params.expansion_search as i32,
        1, // upper_beam, no longer used
    ];
    settings.iter().try_for_each(|x| out.write_all(&x.to_le_bytes()))?;
    drop(graph);
    drop(bytes);
    flat(archive, out)
}

/// FAISS's level probabilities for `connectivity` (its `set_default_probas`, level multiplier
/// 1 / ln M) and the cumulative link slots per level (`base` on level 0, `connectivity` above),
/// with levels added up to `max_level` if the graph is taller.
fn levels(connectivity: u64, base: u64, max_level: u64) -> (Vec<f64>, Vec<i32>) {
    let multiplier = 1.0 / (connectivity as f64).ln();
    let mut probabilities = Vec::new();
    let mut cumulative = vec![0i32];
    loop {
        let level = probabilities.len() as f64;
        let p = (-level / multiplier).exp() * (1.0 - (-1.0 / multiplier).exp());
        let needed = (cumulative.len() as u64) <= max_level + 1;
        if p < MIN_LEVEL_PROBABILITY && !needed {
            break;
        }
        probabilities.push(if p < MIN_LEVEL_PROBABILITY { 0.0 } else { p });
        let room = if cumulative.len() == 1 { base } else { connectivity };
        cumulative.push(cumulative[cumulative.len() - 1] + room as i32);
    }
    (probabilities, cumulative)
}

/// The index header: dimension, count, two unused fields, trained, metric (0 inner product,
/// 1 L2).
fn header(out: &mut dyn Write, archive: &Archive) -> Result<()> {
    let m = &archive.manifest;
    let metric: i32 = if m.index.params.metric == Metric::L2 { 1 } else { 0 };
    out.write_all(&(m.dimensions as i32).to_le_bytes())?;
    out.write_all(&(m.count as i64).to_le_bytes())?;
    out.write_all(&HEADER_DUMMY.to_le_bytes())?;
    out.write_all(&HEADER_DUMMY.to_le_bytes())?;
    out.write_all(&[1])?;
    out.write_all(&metric.to_le_bytes())?;
    Ok(())
}

/// A vector as FAISS writes one: its length as a u64, then its items.
fn vector<T: Copy, const N: usize>(out: &mut dyn Write, items: &[T], bytes: impl Fn(T) -> [u8; N]) -> Result<()> {
    out.write_all(&(items.len() as u64).to_le_bytes())?;
    let data: Vec<u8> = items.iter().flat_map(|&x| bytes(x)).collect();
    out.write_all(&data)?;
    Ok(())
}
