//! Updating archives (`add`, `rm`, `merge`): the changed rows are chunked again by the same rule
//! as `build`, so unchanged chunks come out with the same bytes and CIDs; the index is extended
//! in place when the base's rows are all still there, first and unchanged, and rebuilt otherwise.
//! A partitioned index is extended by adding each new row to the partition of its nearest
//! centroid, and keeps its centroids after `rm` and replacements too: the removed and replaced
//! rows leave their partitions and the replaced ones join the partitions nearest their new
//! vectors (the centroids and unchanged partition chunks keep their blocks).

use anyhow::{bail, Result};

use super::build::{extend_index, extend_partitions, index_rows, partition_rows};
use crate::archive::build::{BuildOptions, IndexBytes};
use crate::archive::read::Archive;
use crate::archive::rows::Rows;
use crate::archive::tree::DEFAULT_MAX_LINKS;
use crate::index::hnsw;

/// How the new archive's index was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexMade {
    /// The base's index, unchanged (the rows are the base's).
    Reused,
    /// The base's index loaded and the new rows added to it.
    Extended,
    /// The base's partitioned index with the removed rows taken out of their partitions, the
    /// others renumbered.
    Pruned,
    /// The base's partitioned index with the replaced rows moved to the partitions nearest
    /// their new vectors.
    Moved,
    /// A new index over every row.
    Rebuilt,
}

impl IndexMade {
    /// How `add` and the others say it.
    pub fn describe(self) -> &'static str {
        match self {
            IndexMade::Reused => "index unchanged",
            IndexMade::Extended => "index extended in place",
            IndexMade::Pruned => "index kept, removed rows taken out of their partitions",
            IndexMade::Moved => "index kept, replaced rows moved to their nearest partitions",
            IndexMade::Rebuilt => "index rebuilt",
        }
    }
}

/// The build options of an archive made from `base`: its field names and index parameters.
pub fn options(base: &Archive) -> BuildOptions {
    BuildOptions {
        fields: base.manifest.fields.clone(),
        params: base.manifest.index.params,
        max_links: DEFAULT_MAX_LINKS,
        embedding: base.manifest.embedding.clone(),
        engine_version: hnsw::version().into(),
    }
}

/// How many partitions `base`'s index has, if it is partitioned.
fn partitions(base: &Archive) -> Option<usize> {
    base.manifest.index.partitions.as_ref().map(|p| p.sizes.len())
}

/// Whether an update may start from the base's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexPlan {
    /// The new rows start with the base's rows, unchanged and in order: the base's index is
    /// reused, or extended with the rows after them.
    Extend,
    /// The new rows start with the base's rows but these (ascending row numbers), unchanged and
    /// in order: a partitioned index keeps its centroids and loses the removed rows (rebuilt
    /// when fewer rows than partitions are left); an HNSW index is rebuilt.
    Remove(Vec<u64>),
    /// The new rows start with the base's rows, in order, these (ascending row numbers) replaced
    /// in place and the others unchanged: a partitioned index keeps its centroids and moves the
    /// replaced rows to the partitions nearest their new vectors; an HNSW index is rebuilt.
    Replace(Vec<u64>),
    /// A new index over every row: the base's rows changed, or a new index was asked for.
    Rebuild,
}

/// The plan of an update that upserted rows into a base of `base_rows` rows, replacing the
/// rows `replaced` (in any order, repeats allowed; those past the base's were added by the same
/// update): the base's index extended, its replaced rows moved, or with `reindex` a new one.
pub fn plan_for_upserts(mut replaced: Vec<usize>, base_rows: usize, reindex: bool) -> IndexPlan {
    replaced.retain(|&row| row < base_rows);
    replaced.sort_unstable();
    replaced.dedup();
    match (reindex, replaced.is_empty()) {
        (true, _) => IndexPlan::Rebuild,
        (false, true) => IndexPlan::Extend,
        (false, false) => IndexPlan::Replace(replaced.into_iter().map(|row| row as u64).collect()),
    }
}

/// The index over `rows`, an update of `base`, made as `plan` says.
pub fn index_for(base: &Archive, rows: &Rows, plan: IndexPlan, threads: usize) -> Result<(IndexBytes, IndexMade)> {
    if rows.is_empty() {
        bail!("no records would be left; an archive holds at least one");
    }
    let params = &base.manifest.index.params;
    let partitions = partitions(base);
    let made = match &plan {
        IndexPlan::Rebuild => IndexMade::Rebuilt,
        IndexPlan::Remove(gone) if !gone.is_empty() => match partitions {
            Some(p) if rows.len() >= p => IndexMade::Pruned,
            _ => IndexMade::Rebuilt,
        },
        IndexPlan::Replace(changed) if !changed.is_empty() => match partitions {
            Some(_) => IndexMade::Moved,
            None => IndexMade::Rebuilt,
        },
        _ if rows.len() as u64 == base.manifest.count => IndexMade::Reused,
        _ => IndexMade::Extended,
    };
    let (removed, replaced): (&[u64], &[u64]) = match &plan {
        IndexPlan::Remove(gone) => (gone, &[]),
        IndexPlan::Replace(changed) => (&[], changed),
        _ => (&[], &[]),
    };
    let index = match (partitions.is_some(), made) {
        (false, IndexMade::Rebuilt) => index_rows(rows, params, threads)?,
        (false, _) => extend_index(base, rows, threads)?,
        // Partitioned anew over every row (about √n partitions), as `build` would.
        (true, IndexMade::Rebuilt) => partition_rows(rows, params, None)?,
        (true, _) => extend_partitions(base, rows, removed, replaced)?,
    };
    Ok((index, made))
}
