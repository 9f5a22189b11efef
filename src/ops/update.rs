//! Updating archives (`add`, `rm`, `merge`): the changed rows are chunked again by the same rule
//! as `build`, so unchanged chunks come out with the same bytes and CIDs; the index is extended
//! in place when the base's rows are all still there, first and unchanged, and rebuilt otherwise.
//! A partitioned index is extended by adding each new row to the partition of its nearest
//! centroid, and after `rm` keeps its centroids too: the removed rows leave their partitions
//! (the centroids and unchanged partition chunks keep their blocks). It is rebuilt by
//! partitioning every row anew when a base row changes.

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
    /// A new index over every row: the base's rows changed, or a new index was asked for.
    Rebuild,
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
        _ if rows.len() as u64 == base.manifest.count => IndexMade::Reused,
        _ => IndexMade::Extended,
    };
    let removed = match &plan {
        IndexPlan::Remove(gone) => gone.as_slice(),
        _ => &[],
    };
    let index = match (partitions.is_some(), made) {
        (false, IndexMade::Rebuilt) => index_rows(rows, params, threads)?,
        (false, _) => extend_index(base, rows, threads)?,
        // Partitioned anew over every row (about √n partitions), as `build` would.
        (true, IndexMade::Rebuilt) => partition_rows(rows, params, None)?,
        (true, _) => extend_partitions(base, rows, removed)?,
    };
    Ok((index, made))
}
