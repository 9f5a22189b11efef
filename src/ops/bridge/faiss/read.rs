//! Reading the vectors and ids of a FAISS index file (docs/FAISS.md), in place from a memory
//! map. Only index types that keep every vector exactly are read; every length is checked
//! against the bytes the file holds before anything is allocated by it.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use memmap2::Mmap;

use super::{fourcc_name, FaissMetric};
use cursor::Cursor;

mod cursor;

/// Deepest nesting of indexes read (an id map around an HNSW index around its storage is 3).
const MAX_DEPTH: usize = 8;

/// The vectors of a FAISS index file and their ids, in the order an archive keeps them: the
/// order they were added for flat and HNSW indexes, ascending by id for IVF lists (which keep
/// no other order), under an id map the order of the index it wraps.
pub struct FaissFile {
    map: Mmap,
    /// Length of every vector.
    pub dimensions: usize,
    /// The metric the index searches by.
    pub metric: FaissMetric,
    /// Each vector's id and the offset of its float32 values in the file.
    entries: Vec<(i64, usize)>,
}

impl FaissFile {
    /// Reads `path`'s layout, refusing unsupported index types (named by their fourcc) and
    /// anything truncated or inconsistent.
    pub fn open(path: &Path) -> Result<FaissFile> {
        let name = path.display();
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        // SAFETY: the map is only read, and each read is bounds-checked; a file changed while
        // mapped gives wrong values, not unsafety, as the reads copy bytes out.
        let map = unsafe { Mmap::map(&file) }.with_context(|| format!("cannot read {name}"))?;
        let (dimensions, metric, entries) = {
            let mut cursor = Cursor { bytes: &map, pos: 0 };
            let index = read_index(&mut cursor, 0).with_context(|| name.to_string())?;
            let extra = map.len() - cursor.pos;
            ensure!(extra == 0, "{name}: {extra} bytes after the end of the index");
            (index.dimensions, index.metric, index.entries)
        };
        Ok(FaissFile {
            map,
            dimensions,
            metric,
            entries,
        })
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id and the vector of entry `i` (below [`Self::len`]).
    pub fn get(&self, i: usize) -> (i64, Vec<f32>) {
        let (id, at) = self.entries[i];
        let bytes = &self.map[at..at + 4 * self.dimensions];
        let vector = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (id, vector)
    }
}

/// One index as read: its header's numbers and its vectors.
struct Index {
    dimensions: usize,
    metric: FaissMetric,
    /// Vectors the header says it holds.
    count: usize,
    /// Each vector's id (its position for flat storage) and offset.
    entries: Vec<(i64, usize)>,
}

/// Reads one index, with the indexes nested in it, at `depth`.
fn read_index(c: &mut Cursor, depth: usize) -> Result<Index> {
    ensure!(depth < MAX_DEPTH, "indexes nested deeper than {MAX_DEPTH}");
    let at = c.pos;
    let code = c.fourcc()?;
    let index = match &code {
        b"IxF2" | b"IxFI" => read_flat(c, &code)?,
        b"IHNf" => read_hnsw(c, depth)?,
        b"IwFl" => read_ivf(c, depth)?,
        b"IxMp" | b"IxM2" => read_id_map(c, depth)?,
        b"null" => bail!("byte {at}: no index stored here (written without its storage)"),
        _ => bail!(
            "byte {at}: index type {}{} is not supported: vecar reads the types that keep the \
             vectors exactly, IndexFlatL2 (IxF2), IndexFlatIP (IxFI), IndexHNSWFlat (IHNf), \
             IndexIVFFlat (IwFl) and IndexIDMap (IxMp, IxM2) around them",
            fourcc_name(&code),
            known_lossy(&code).map_or(String::new(), |name| format!(" ({name}, lossy)"))
        ),
    };
    Ok(index)
}

/// The class name of common index types that keep only compressed codes, not the vectors.
fn known_lossy(code: &[u8; 4]) -> Option<&'static str> {
    Some(match code {
        b"IxPq" => "IndexPQ",
        b"IxSQ" => "IndexScalarQuantizer",
        b"IwPQ" => "IndexIVFPQ",
        b"IwSq" => "IndexIVFScalarQuantizer",
        b"IHNp" => "IndexHNSWPQ",
        b"IHNs" => "IndexHNSWSQ",
        b"IxHe" => "IndexLSH",
        b"IxRq" => "IndexResidualQuantizer",
        b"IxLS" => "IndexLocalSearchQuantizer",
        _ => return None,
    })
}

/// The fields every index starts with.
struct Header {
    dimensions: usize,
    count: usize,
    metric: FaissMetric,
}

fn read_header(c: &mut Cursor) -> Result<Header> {
    let dimensions = c.i32("dimension")?;
    let count = c.i64("ntotal")?;
    ensure!(dimensions > 0, "dimension {dimensions} is not positive");
    ensure!(count >= 0, "ntotal {count} is negative");
    c.take(16, "header")?; // two unused 64-bit fields
    let trained = c.take(1, "is_trained")?[0];
    ensure!(trained <= 1, "is_trained byte {trained} is not 0 or 1");
    let metric = match c.i32("metric")? {
        0 => FaissMetric::Ip,
        1 => FaissMetric::L2,
        other => bail!("metric type {other} is not supported: vecar reads inner product (0) and L2 (1)"),
    };
    Ok(Header {
        dimensions: dimensions as usize,
        // Bounded by the file: every index checks its count against the vectors it holds.
        count: usize::try_from(count).context("ntotal")?,
        metric,
    })
}

/// IndexFlatL2 / IndexFlatIP: the header, then the vectors, row after row.
fn read_flat(c: &mut Cursor, code: &[u8; 4]) -> Result<Index> {
    let h = read_header(c)?;
    let expected = if code == b"IxFI" {
        FaissMetric::Ip
    } else {
        FaissMetric::L2
    };
    ensure!(h.metric == expected, "{} with metric {:?}", fourcc_name(code), h.metric);
    let floats = c.u64("vector count")?;
    let (start, len) = c.array(floats, 4, "vectors")?;
    ensure!(
        len == h.count.checked_mul(4 * h.dimensions).context("ntotal")?,
        "holds {floats} numbers, not {} vectors of {}",
        h.count,
        h.dimensions
    );
    let row = 4 * h.dimensions;
    Ok(Index {
        entries: (0..h.count).map(|i| (i as i64, start + i * row)).collect(),
        dimensions: h.dimensions,
        metric: h.metric,
        count: h.count,
    })
}

/// IndexHNSWFlat: the header, the graph (skipped), then its flat storage.
fn read_hnsw(c: &mut Cursor, depth: usize) -> Result<Index> {
    let h = read_header(c)?;
    c.skip_vector(8, "assign_probas")?;
    c.skip_vector(4, "cum_nneighbor_per_level")?;
    let nodes = c.skip_vector(4, "levels")?;
    ensure!(nodes == h.count as u64, "graph has {nodes} nodes, not {}", h.count);
    c.skip_vector(8, "offsets")?;
    c.skip_vector(4, "neighbors")?;
    c.take(20, "graph settings")?; // entry point, max level, efConstruction, efSearch, upper beam
    let at = c.pos;
    let code = c.peek_fourcc()?;
    ensure!(
        matches!(&code, b"IxF2" | b"IxFI" | b"null"),
        "byte {at}: HNSW storage of type {} is not flat float32",
        fourcc_name(&code)
    );
    let storage = read_index(c, depth + 1)?;
    same_shape(&h, &storage, "storage")?;
    Ok(storage)
}

/// IndexIVFFlat: the header, the coarse quantizer, the direct map (skipped), then the inverted
/// lists, each with its vectors and their ids.
fn read_ivf(c: &mut Cursor, depth: usize) -> Result<Index> {
    let h = read_header(c)?;
    let lists = c.u64("nlist")?;
    c.take(8, "nprobe")?;
    let quantizer = read_index(c, depth + 1).context("the coarse quantizer")?;
    ensure!(
        quantizer.count as u64 == lists,
        "the coarse quantizer holds {} centroids for {lists} lists",
        quantizer.count
    );
    let kind = c.take(1, "direct map type")?[0];
    ensure!(kind <= 2, "direct map type {kind} is unknown");
    c.skip_vector(8, "direct map")?;
    if kind == 2 {
        c.skip_vector(16, "direct map table")?;
    }
    let mut entries = read_lists(c, lists, h.dimensions, h.count)?;
    entries.sort_unstable_by_key(|&(id, _)| id);
    Ok(Index {
        entries,
        dimensions: h.dimensions,
        metric: h.metric,
        count: h.count,
    })
}

/// The inverted lists of an IVF index of `lists` lists: each vector's id and the offset of its
/// float32 values, `count` in all, in list order.
fn read_lists(c: &mut Cursor, lists: u64, dimensions: usize, count: usize) -> Result<Vec<(i64, usize)>> {
    let at = c.pos;
    let code = c.fourcc()?;
    ensure!(
        &code == b"ilar",
        "byte {at}: inverted lists of type {} are not supported (only lists stored in the file, ilar)",
        fourcc_name(&code)
    );
    ensure!(c.u64("nlist")? == lists, "inverted lists disagree about nlist");
    let code_size = c.u64("code_size")?;
    ensure!(
        code_size == 4 * dimensions as u64,
        "code size {code_size} is not {} float32s",
        dimensions
    );
    let sizes = list_sizes(c, lists as usize)?;
    let row = 4 * dimensions;
    let mut entries = Vec::new();
    for (list, &n) in sizes.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let (codes, _) = c
            .array(n, row, "list vectors")
            .with_context(|| format!("list {list}"))?;
        let (ids, _) = c.array(n, 8, "list ids").with_context(|| format!("list {list}"))?;
        ensure!(
            entries.len() + n as usize <= count,
            "lists hold more than ntotal {} vectors",
            count
        );
        for i in 0..n as usize {
            entries.push((c.i64_at(ids + 8 * i), codes + i * row));
        }
    }
    ensure!(
        entries.len() == count,
        "lists hold {} vectors, not {}",
        entries.len(),
        count
    );
    Ok(entries)
}

/// The sizes of `lists` inverted lists, stored in full or as (list, size) pairs.
fn list_sizes(c: &mut Cursor, lists: usize) -> Result<Vec<u64>> {
    let at = c.pos;
    let kind = c.fourcc()?;
    let n = c.u64("list sizes")?;
    let (start, _) = c.array(n, 8, "list sizes")?;
    let values = (0..n as usize).map(|i| c.u64_at(start + 8 * i));
    match &kind {
        b"full" => {
            ensure!(n as usize == lists, "{n} list sizes for {lists} lists");
            Ok(values.collect())
        }
        b"sprs" => {
            ensure!(n % 2 == 0, "an odd number ({n}) of sparse list sizes");
            let mut sizes = vec![0; lists];
            let values: Vec<u64> = values.collect();
            for pair in values.chunks_exact(2) {
                let slot = usize::try_from(pair[0]).ok().and_then(|list| sizes.get_mut(list));
                *slot.with_context(|| format!("size of list {} of {lists}", pair[0]))? = pair[1];
            }
            Ok(sizes)
        }
        _ => bail!("byte {at}: list sizes of unknown kind {}", fourcc_name(&kind)),
    }
}

/// IndexIDMap / IndexIDMap2: the header, the index it wraps, then the id of each of that
/// index's vectors.
fn read_id_map(c: &mut Cursor, depth: usize) -> Result<Index> {
    let h = read_header(c)?;
    let mut inner = read_index(c, depth + 1)?;
    same_shape(&h, &inner, "wrapped index")?;
    let n = c.u64("id map")?;
    let (start, _) = c.array(n, 8, "id map")?;
    ensure!(n as usize == h.count, "id map holds {n} ids for {} vectors", h.count);
    for entry in &mut inner.entries {
        let position = usize::try_from(entry.0).ok().filter(|&p| p < h.count);
        let position = position.with_context(|| format!("wrapped index has id {} of {}", entry.0, h.count))?;
        entry.0 = c.i64_at(start + 8 * position);
    }
    Ok(inner)
}

/// Checks that `inner` has the dimension, count and metric of the header `outer`.
fn same_shape(outer: &Header, inner: &Index, what: &str) -> Result<()> {
    ensure!(
        (inner.dimensions, inner.count, inner.metric) == (outer.dimensions, outer.count, outer.metric),
        "{what} holds {} vectors of {} ({:?}), the index {} of {} ({:?})",
        inner.count,
        inner.dimensions,
        inner.metric,
        outer.count,
        outer.dimensions,
        outer.metric
    );
    Ok(())
}
