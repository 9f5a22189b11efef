//! Searching archives: an archive as the index's [`Store`], the checks that let archives be
//! searched together, and the record a query `--like` names.

use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, Result};
use memmap2::MmapMut;

use crate::archive::read::Archive;
use crate::archive::records::id_text;
use crate::index::search::Store;
use crate::input::Record;
use crate::params::IndexParams;

/// An archive is searched in place: records, vectors and the index read from its blocks.
impl Store for Archive {
    fn name(&self) -> &str {
        Archive::name(self)
    }

    fn count(&self) -> u64 {
        self.manifest.count
    }

    fn dimensions(&self) -> u64 {
        self.manifest.dimensions
    }

    fn params(&self) -> &IndexParams {
        &self.manifest.index.params
    }

    fn index_bytes(&self) -> Result<MmapMut> {
        Archive::index_bytes(self)
    }

    fn all_vectors(&self) -> Result<Vec<f32>> {
        Archive::all_vectors(self)
    }

    fn for_each_record(&self, f: impl FnMut(u64, &Record) -> Result<()>) -> Result<()> {
        Archive::for_each_record(self, f)
    }

    fn with_vectors<T: Send>(
        &self,
        rows: &BTreeSet<u64>,
        f: impl Fn(u64, &[f32]) -> T + Sync,
    ) -> Result<HashMap<u64, T>> {
        Archive::with_vectors(self, rows, f)
    }
}

/// Checks that archives share dimensions and metric, so their distances compare; `what` ends the
/// error ("searched together").
pub fn check_compatible(archives: &[Archive], what: &str) -> Result<()> {
    let first = &archives[0];
    let (dims, metric) = (first.manifest.dimensions, first.manifest.index.params.metric);
    for other in &archives[1..] {
        let (d, m) = (other.manifest.dimensions, other.manifest.index.params.metric);
        if (d, m) != (dims, metric) {
            bail!(
                "{} has {d} dimensions and metric {}, but {} has {dims} and {}: they cannot be {what}",
                other.name(),
                m.name(),
                first.name(),
                metric.name()
            );
        }
        if let (Some(a), Some(b)) = (&first.manifest.embedding, &other.manifest.embedding) {
            if a != b {
                bail!(
                    "{} was embedded with {} model {:?} and {} with {} model {:?}: they cannot be {what}",
                    first.name(),
                    a.provider,
                    a.model,
                    other.name(),
                    b.provider,
                    b.model
                );
            }
        }
    }
    Ok(())
}

/// The record named by --like: where it is and its stored vector.
pub struct Like {
    /// Position of the archive holding it.
    pub archive: usize,
    /// Its row there.
    pub row: u64,
    /// Its stored vector.
    pub vector: Vec<f32>,
}

/// The first of `archives` holding a record with id `id` (as typed on a command line), for
/// `query --like`.
pub fn find_id(archives: &[Archive], id: &str) -> Result<Like> {
    for (i, archive) in archives.iter().enumerate() {
        let mut found = None;
        archive.for_each_record(|row, record| {
            if found.is_none() && record.get(&archive.manifest.fields.id).and_then(id_text).as_deref() == Some(id) {
                found = Some(row);
            }
            Ok(())
        })?;
        if let Some(row) = found {
            let vector = archive
                .vectors_of(&BTreeSet::from([row]))?
                .remove(&row)
                .expect("the row was read");
            return Ok(Like {
                archive: i,
                row,
                vector,
            });
        }
    }
    let names: Vec<&str> = archives.iter().map(|a| a.name()).collect();
    bail!("--like: no record with id {id} in {}", names.join(", "))
}
