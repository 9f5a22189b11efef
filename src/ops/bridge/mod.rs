//! Bridges between archives and other vector stores: FAISS index files, Qdrant collections,
//! Elasticsearch and OpenSearch indexes. An import turns the store's records into a [`Source`],
//! and [`build`] makes the archive from it through the same path as `vecar build`; an export
//! writes an archive's rows into the store. Each checks its counts: nothing lost, nothing
//! invented.

use anyhow::{bail, Result};

use crate::archive::build::{BuildOptions, IndexBytes};
use crate::archive::manifest::Fields;
use crate::archive::rows::Rows;
use crate::archive::tree::DEFAULT_MAX_LINKS;
use crate::index::hnsw;
use crate::input::Doc;
use crate::ops::build::{read_records, IndexChoice};
use crate::output::plural;
use crate::params::{IndexParams, Metric};

/// What an export into a store did.
pub struct Exported {
    /// Records written (points, documents).
    pub written: u64,
    /// Records the store holds after it.
    pub held: u64,
}

mod batches;
pub mod elasticsearch;
pub mod faiss;
pub mod qdrant;
mod rest;

pub use batches::DEFAULT_BATCH;

/// Another store's records on their way into an archive: what every import gives [`build`].
pub struct Source<I> {
    /// The store, for messages (a file name, a collection's URL).
    pub name: String,
    /// The metric the store searches by, which the archive's index gets.
    pub metric: Metric,
    /// How many records the store says it holds: reading another number is an error.
    pub count: u64,
    /// The records, in the order the archive keeps them. Each record holds its id under
    /// [`fields`]' id (a string or an integer), its text (if any) under the text field, and its
    /// metadata under their own names; the vector is apart, as in [`Doc`].
    pub records: I,
}

/// An archive made from a [`Source`], ready for `archive::build::assemble`.
pub struct Built {
    /// The records and vectors, in the source's order.
    pub rows: Rows,
    /// The index built over them.
    pub index: IndexBytes,
    /// How to assemble the archive.
    pub options: BuildOptions,
}

/// The field names of imported records: vecar's defaults, `id`, `vector` and `text`.
pub fn fields() -> Fields {
    Fields {
        id: "id".into(),
        vector: "vector".into(),
        text: "text".into(),
    }
}

/// Reads every record of `source` into rows (with `vecar build`'s checks: ids unique, vectors of
/// one length), checks that they are as many as the source holds, and indexes them as a default
/// `vecar build` does ([`IndexChoice::auto`]: HNSW on one thread below
/// [`AUTO_PARTITIONED_FROM`](crate::ops::build::AUTO_PARTITIONED_FROM) records, partitioned from
/// there on, so the archive is the same at any thread count), with its default settings for the
/// source's metric.
pub fn build(source: Source<impl Iterator<Item = Result<Doc>>>) -> Result<Built> {
    let fields = fields();
    let rows = read_records(source.records, &source.name, &fields)?;
    let name = &source.name;
    if rows.len() as u64 != source.count {
        bail!(
            "{name}: read {} but the source holds {}",
            plural(rows.len() as u64, "record"),
            source.count
        );
    }
    if rows.is_empty() {
        bail!("{name}: no records");
    }
    let choice = IndexChoice::auto(rows.len());
    let mut params = IndexParams::default_for(source.metric);
    params.dtype = choice.dtype(params.dtype);
    let options = BuildOptions {
        fields,
        params,
        max_links: DEFAULT_MAX_LINKS,
        embedding: None,
        engine_version: hnsw::version().into(),
    };
    let index = choice.build(&rows, &options.params)?;
    Ok(Built { rows, index, options })
}
