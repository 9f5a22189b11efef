//! The FAISS bridge: index files read and written by vecar itself (no native FAISS), in the
//! format `faiss.write_index` writes (docs/FAISS.md).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::Value;

use super::{fields, Source};
use crate::archive::ids::id_text;
use crate::archive::read::Archive;
use crate::input::{parse_object, parse_vector, Doc, LineSource, Lines, Record};
use crate::params::Metric;

mod read;
mod write;

pub use read::FaissFile;

/// The metrics a FAISS index file may name that vecar reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaissMetric {
    /// METRIC_INNER_PRODUCT (0).
    Ip,
    /// METRIC_L2 (1): squared Euclidean distance.
    L2,
}

/// The kind of index `vecar export --to faiss` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaissIndex {
    /// IndexFlatL2 or IndexFlatIP: exact search.
    Flat,
    /// IndexHNSWFlat with the archive's own HNSW graph.
    Hnsw,
}

/// A fourcc for messages: its four bytes quoted, any that is not printable ASCII escaped.
fn fourcc_name(code: &[u8; 4]) -> String {
    let text: String = code
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("\"{text}\"")
}

/// The records of the FAISS index at `path`, ids its ids (positions for indexes without an id
/// map), searched by `metric` (the index's own when `None`). With `records`, a JSONL file,
/// each vector's text and metadata come from the record with its id: every vector needs one
/// and every record must match a vector.
pub fn import(
    path: &Path,
    records: Option<&Path>,
    metric: Option<Metric>,
) -> Result<Source<impl Iterator<Item = Result<Doc>>>> {
    let file = FaissFile::open(path)?;
    let metric = metric.unwrap_or(match file.metric {
        FaissMetric::Ip => Metric::Ip,
        FaissMetric::L2 => Metric::L2,
    });
    let joined = records.map(Joined::read).transpose()?;
    let name = path.display().to_string();
    Ok(Source {
        count: file.len() as u64,
        metric,
        records: Records {
            name: name.clone(),
            file,
            next: 0,
            joined,
        },
        name,
    })
}

/// The index's vectors as records, joined with the records file if there is one.
struct Records {
    name: String,
    file: FaissFile,
    next: usize,
    joined: Option<Joined>,
}

impl Iterator for Records {
    type Item = Result<Doc>;

    fn next(&mut self) -> Option<Result<Doc>> {
        if self.next == self.file.len() {
            return self.joined.take().and_then(|joined| joined.leftover().err()).map(Err);
        }
        let (id, vector) = self.file.get(self.next);
        self.next += 1;
        let record = match &mut self.joined {
            None => Ok(Record::from_iter([(fields().id, Value::from(id))])),
            Some(joined) => joined.take(id, &vector, &self.name),
        };
        Some(record.map(|record| Doc { record, vector }))
    }
}

/// The records of a JSONL file by id, taken one by one as the index's vectors come.
struct Joined {
    name: String,
    /// Each record by its id's text, with its line and the vector it holds, if any.
    by_id: HashMap<String, (u64, Record, Option<Vec<f32>>)>,
}

impl Joined {
    /// Reads every record of `path`: JSON objects with a unique string or integer `id`.
    fn read(path: &Path) -> Result<Joined> {
        let mut lines = Lines::open(path)?;
        let name = lines.name().to_string();
        let fields = fields();
        let mut by_id = HashMap::new();
        while let Some((line, text)) = lines.next_line()? {
            let at = |msg: String| anyhow!("{name}:{line}: {msg}");
            let mut record = parse_object(&text).map_err(at)?;
            let Some(id) = record.get(&fields.id).and_then(id_text) else {
                return Err(at(format!("{} must be a string or an integer", fields.id)));
            };
            let vector = match record.remove(&fields.vector) {
                None | Some(Value::Null) => None,
                Some(value) => Some(parse_vector(&value, &fields.vector).map_err(at)?),
            };
            if by_id.insert(id.clone(), (line, record, vector)).is_some() {
                return Err(at(format!("duplicate {} {id}", fields.id)));
            }
        }
        Ok(Joined { name, by_id })
    }

    /// The record with FAISS id `id`, whose vector (if it holds one) must be `vector`, bit for
    /// bit.
    fn take(&mut self, id: i64, vector: &[f32], index: &str) -> Result<Record> {
        let name = &self.name;
        let Some((line, record, own)) = self.by_id.remove(&id.to_string()) else {
            bail!("{name}: no record has id {id}, which a vector of {index} has");
        };
        if let Some(own) = own {
            let same = own.len() == vector.len() && own.iter().zip(vector).all(|(a, b)| a.to_bits() == b.to_bits());
            ensure!(
                same,
                "{name}:{line}: vector differs from the vector with id {id} in {index}"
            );
        }
        Ok(record)
    }

    /// An error naming the records no vector took, if any.
    fn leftover(self) -> Result<()> {
        let mut left: Vec<(u64, String)> = self.by_id.into_iter().map(|(id, (line, ..))| (line, id)).collect();
        left.sort_unstable();
        match left.first() {
            None => Ok(()),
            Some((line, id)) => bail!(
                "{}:{line}: the index has no vector with id {id} ({} without a vector)",
                self.name,
                crate::output::plural(left.len() as u64, "record")
            ),
        }
    }
}

/// Writes `archive` to `out` as a FAISS index of `kind` whose ids are the archive's row
/// numbers (`vecar export`'s line order), and gives the number of vectors written. cos maps to
/// inner product over unit-length copies of the vectors (FAISS has no cosine metric).
pub fn export(archive: &Archive, kind: FaissIndex, out: &mut dyn Write) -> Result<u64> {
    let written = match kind {
        FaissIndex::Flat => write::flat(archive, out)?,
        FaissIndex::Hnsw => write::hnsw(archive, out)?,
    };
    let count = archive.manifest.count;
    ensure!(
        written == count,
        "{}: wrote {written} vectors, the archive holds {count}",
        archive.name()
    );
    Ok(written)
}
