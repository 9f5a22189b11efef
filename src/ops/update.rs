//! Updating archives (`add`, `rm`, `merge`): the changed rows are chunked again by the same rule
//! as `build`, so unchanged chunks come out with the same bytes and CIDs; the index is extended
//! in place when the base's rows are all still there, first and unchanged, and rebuilt otherwise.

use anyhow::{bail, Result};

use crate::archive::build::{extend_index, index_rows, BuildOptions};
use crate::archive::bytes::Bytes;
use crate::archive::read::Archive;
use crate::archive::rows::Rows;
use crate::archive::tree::DEFAULT_MAX_LINKS;

/// How the new archive's index was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexMade {
    /// The base's index, unchanged (the rows are the base's).
    Reused,
    /// The base's index loaded and the new rows added to it.
    Extended,
    /// A new index over every row.
    Rebuilt,
}

impl IndexMade {
    /// How `add` and the others say it.
    pub fn describe(self) -> &'static str {
        match self {
            IndexMade::Reused => "index unchanged",
            IndexMade::Extended => "index extended in place",
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
    }
}

/// The index over `rows`, whose first rows are `base`'s rows, unchanged and in order, when
/// `base_intact`: then `base`'s index is reused or extended, unless `reindex` asks for a new one.
pub fn index_for(
    base: &Archive,
    rows: &Rows,
    base_intact: bool,
    reindex: bool,
    threads: usize,
) -> Result<(Bytes, IndexMade)> {
    if rows.is_empty() {
        bail!("no records would be left; an archive holds at least one");
    }
    let params = &base.manifest.index.params;
    Ok(if reindex || !base_intact {
        (index_rows(rows, params, threads)?, IndexMade::Rebuilt)
    } else if rows.len() as u64 == base.manifest.count {
        (extend_index(base, rows, threads)?, IndexMade::Reused)
    } else {
        (extend_index(base, rows, threads)?, IndexMade::Extended)
    })
}
