//! An archive's content in row order: ids, encoded records and vectors. `build` reads it from
//! JSONL; `add`, `rm` and `merge` read it from archives and change it.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::chunking::ends_chunk;
use super::ids::key_text;
use super::read::Archive;
use super::records;
use super::spool::Spool;
use super::vector_spool::VectorSpool;
use crate::input::Record;

/// One row outside a [`Rows`]: its id, its record encoded as DAG-CBOR and its vector, ready to add.
pub struct EncodedRow {
    /// The id as JSON text (`"doc-1"`, `42`); its text ([`key_text`]) is unique.
    pub key: String,
    /// Whether the id ends a chunk.
    pub ends_chunk: bool,
    /// The record's DAG-CBOR encoding.
    pub record: Vec<u8>,
    /// The vector.
    pub vector: Vec<f32>,
}

impl EncodedRow {
    /// Encodes a record whose id is `id` (a string or an integer).
    pub fn new(id: &Value, record: &Record, vector: Vec<f32>) -> Result<EncodedRow> {
        Ok(EncodedRow {
            key: id.to_string(),
            ends_chunk: ends_chunk(id),
            record: records::encode(record)?,
            vector,
        })
    }
}

/// Calls `f` with every row of `archive`, in order, each block verified on the way.
pub fn read_archive(archive: &Archive, mut f: impl FnMut(EncodedRow) -> Result<()>) -> Result<()> {
    let (name, id_field) = (archive.name(), &archive.manifest.fields.id);
    archive.for_each_row(|row, record, vector| {
        let id = record
            .get(id_field)
            .with_context(|| format!("{name}: record {row} has no {id_field:?} field"))?;
        f(EncodedRow::new(id, record, vector.to_vec()).with_context(|| format!("{name}: record {row}"))?)
    })
}

/// What to keep when an id is present twice with different content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Stop with an error naming the id.
    Error,
    /// Keep the row seen first.
    First,
    /// Keep the row seen last, at the first one's position.
    Last,
}

/// What [`Rows::upsert`] did with a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// A new id, appended.
    Added,
    /// A known id with other content, replaced in place at this row.
    Replaced(usize),
    /// A known id with the same content, or a conflict resolved by keeping the first.
    Kept,
}

/// Rows in order, with their ids unique as text ([`super::ids`]).
pub struct Rows {
    /// Length of every vector.
    pub dimensions: usize,
    /// Each row's id key.
    pub keys: Vec<String>,
    /// Whether each row's id ends a chunk.
    pub ends: Vec<bool>,
    /// Each row's encoded record, kept in a temporary file.
    pub records: Spool,
    /// All vectors, row after row, kept in a temporary file.
    pub vectors: VectorSpool,
    /// The row of each id, by its text.
    positions: HashMap<String, usize>,
}

impl Rows {
    /// No rows yet, for vectors of `dimensions` values.
    pub fn new(dimensions: usize) -> Result<Rows> {
        Ok(Rows {
            dimensions,
            keys: Vec::new(),
            ends: Vec::new(),
            records: Spool::new()?,
            vectors: VectorSpool::new()?,
            positions: HashMap::new(),
        })
    }

    /// Every row of `archive`, each block verified on the way.
    pub fn from_archive(archive: &Archive) -> Result<Rows> {
        let mut rows = Rows::new(archive.manifest.dimensions as usize)?;
        read_archive(archive, |row| match rows.push(row)? {
            None => Ok(()),
            Some(duplicate) => bail!("{}: duplicate record id {duplicate}", archive.name()),
        })?;
        Ok(rows)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The vector of row `row`.
    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dimensions..(row + 1) * self.dimensions]
    }

    /// Appends `row`; if its id is already present (as text), nothing is appended and the id
    /// comes back, described for a message.
    pub fn push(&mut self, row: EncodedRow) -> Result<Option<String>> {
        let text = key_text(&row.key).into_owned();
        if let Some(&at) = self.positions.get(&text) {
            let earlier = &self.keys[at];
            return Ok(Some(if *earlier == row.key {
                row.key
            } else {
                format!("{} (as text the same as the id {earlier} before it)", row.key)
            }));
        }
        self.records.push(&row.record)?;
        self.positions.insert(text, self.keys.len());
        self.keys.push(row.key);
        self.ends.push(row.ends_chunk);
        self.vectors.extend_from_slice(&row.vector)?;
        Ok(None)
    }

    /// Appends a row with a new id; a known id is replaced in place or kept, as `on_conflict`
    /// says when the content differs. A row identical to the present one is always kept.
    pub fn upsert(&mut self, row: EncodedRow, on_conflict: OnConflict) -> Result<Upserted> {
        let Some(&at) = self.positions.get(key_text(&row.key).as_ref()) else {
            self.push(row)?;
            return Ok(Upserted::Added);
        };
        let same_vector = self
            .vector(at)
            .iter()
            .map(|v| v.to_bits())
            .eq(row.vector.iter().map(|v| v.to_bits()));
        if same_vector && self.records.get(at)? == row.record {
            return Ok(Upserted::Kept);
        }
        match on_conflict {
            OnConflict::Error => bail!(
                "id {} is already present with different content (--on-conflict first or last decides)",
                row.key
            ),
            OnConflict::First => Ok(Upserted::Kept),
            OnConflict::Last => {
                // The id may be written otherwise (`1` for `"1"`), which can move a chunk end.
                self.ends[at] = row.ends_chunk;
                self.keys[at] = row.key;
                self.records.replace(at, &row.record)?;
                let dims = self.dimensions;
                self.vectors[at * dims..(at + 1) * dims].copy_from_slice(&row.vector);
                Ok(Upserted::Replaced(at))
            }
        }
    }

    /// Removes the rows whose id key is in `keys`; the others keep their order. Returns the
    /// numbers the removed rows had, ascending.
    pub fn remove(&mut self, keys: &HashSet<String>) -> Vec<u64> {
        let gone: Vec<bool> = self.keys.iter().map(|key| keys.contains(key)).collect();
        self.vectors.retain_rows(self.dimensions, |row| !gone[row]);
        self.records.retain(|row| !gone[row]);
        let mut row = 0;
        self.ends.retain(|_| {
            row += 1;
            !gone[row - 1]
        });
        self.keys.retain(|key| !keys.contains(key));
        self.positions = (self.keys.iter().enumerate())
            .map(|(i, key)| (key_text(key).into_owned(), i))
            .collect();
        (0..gone.len() as u64).filter(|&row| gone[row as usize]).collect()
    }

    /// The rows, in order.
    pub fn into_rows(self) -> impl Iterator<Item = Result<EncodedRow>> {
        let dims = self.dimensions;
        let (records, vectors) = (self.records, self.vectors);
        self.keys
            .into_iter()
            .zip(self.ends)
            .enumerate()
            .map(move |(i, (key, ends_chunk))| {
                Ok(EncodedRow {
                    key,
                    ends_chunk,
                    record: records.get(i)?,
                    vector: vectors[i * dims..(i + 1) * dims].to_vec(),
                })
            })
    }

    /// The key of the row whose id has the text `typed` (as on a command line, [`super::ids`]).
    pub fn key_of(&self, typed: &str) -> Option<String> {
        self.positions.get(typed).map(|&at| self.keys[at].clone())
    }
}
