//! Updating archives (`add`, `rm`, `merge`): the changed rows are chunked again by the same rule
//! as `build`, so unchanged chunks come out with the same bytes and CIDs; the index is extended
//! in place when the base's rows are all still there, first and unchanged, and rebuilt otherwise.

use anyhow::{bail, Result};

use super::build::{assemble, extend_index, index_rows, Assembled, BuildOptions};
use super::read::Archive;
use super::rows::Rows;
use super::tree::DEFAULT_MAX_LINKS;

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

/// The archive holding `rows`, with `base`'s field names and index parameters.
///
/// `base_intact` says that the first rows of `rows` are `base`'s rows, unchanged and in order;
/// then `base`'s index is reused or extended unless `reindex` asks for a new one.
pub fn rebuild(
    base: &Archive,
    rows: &Rows,
    base_intact: bool,
    reindex: bool,
    threads: usize,
) -> Result<(Assembled, IndexMade)> {
    if rows.is_empty() {
        bail!("no records would be left; an archive holds at least one");
    }
    let m = &base.manifest;
    let options = BuildOptions {
        fields: m.fields.clone(),
        params: m.index.params,
        max_links: DEFAULT_MAX_LINKS,
    };
    let (index, made) = if reindex || !base_intact {
        (index_rows(rows, &m.index.params, threads)?, IndexMade::Rebuilt)
    } else if rows.len() as u64 == m.count {
        (extend_index(base, rows, threads)?, IndexMade::Reused)
    } else {
        (extend_index(base, rows, threads)?, IndexMade::Extended)
    };
    Ok((assemble(rows, &index, &options)?, made))
}
