//! The flags of the Qdrant and Elasticsearch bridges, which `vecar import` and `vecar export`
//! share: where the store is, which collection or index, how many points a request.

use anyhow::Result;

use vecar::archive::read::Archive;
use vecar::ops::bridge::{elasticsearch, qdrant, DEFAULT_BATCH};
use vecar::progress;

/// `--batch`: points or documents per request.
#[derive(clap::Args)]
pub struct Batch {
    /// Points or documents per request.
    #[arg(long, default_value_t = DEFAULT_BATCH, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    batch: usize,
}

/// Arguments of `vecar import qdrant`.
#[derive(clap::Args)]
#[command(after_help = "\
Reads every point with the scroll API (POST /collections/NAME/points/scroll), --batch points a
request. Point ids become ids, except where the payload keeps the original id that `vecar export
--to qdrant` replaced by a UUID; the payload's fields become the record (`text` its text, the
rest metadata). The metric is the collection's distance: Cosine -> cos, Dot -> ip, Euclid -> l2.
The number of points read must be the collection's exact count.

The API key, if any, is read from VECAR_QDRANT_API_KEY (sent as the api-key header).

Examples:
  vecar import qdrant --url http://localhost:6333 --collection docs -o docs.car
  vecar import qdrant --url http://localhost:6333 --collection docs --vector-name text -o docs.car")]
pub struct QdrantImport {
    /// The Qdrant server (its REST API, e.g. http://localhost:6333).
    #[arg(long)]
    url: String,
    /// The collection to read.
    #[arg(long)]
    collection: String,
    /// Which named vector to read, for a collection with several.
    #[arg(long, value_name = "NAME")]
    vector_name: Option<String>,
    #[command(flatten)]
    batch: Batch,
    /// Where to write the archive.
    #[command(flatten)]
    pub output: super::Output,
}

impl QdrantImport {
    /// The collection's points, on their way into an archive.
    pub fn source(&self) -> Result<vecar::ops::bridge::Source<qdrant::Points>> {
        qdrant::import(
            &self.url,
            &self.collection,
            self.vector_name.as_deref(),
            self.batch.batch,
        )
    }
}

/// Arguments of `vecar import elasticsearch`.
#[derive(clap::Args)]
#[command(after_help = "\
Reads every document (_id and _source) with the scroll API, --batch documents a page, sorted by
_doc; scroll is answered alike by Elasticsearch 7-9 and OpenSearch 2. The vector is the mapping's
dense_vector (or OpenSearch knn_vector) field; the other _source fields become the record (`text`
its text, the rest metadata), and _id the id (or _source's `id`, whose text must be the _id). The
metric is the field's similarity: cosine -> cos, dot_product and max_inner_product -> ip,
l2_norm -> l2 (OpenSearch: cosinesimil, innerproduct, l2). The documents read must be as many
as _count says.

Authentication: VECAR_ES_API_KEY (sent as Authorization: ApiKey KEY) or user:password in the URL
(never shown in messages).

Examples:
  vecar import elasticsearch --url http://localhost:9200 --index docs -o docs.car
  vecar import elasticsearch --url https://elastic:PASSWORD@es.example:9200 --index docs --vector-field embedding -o docs.car")]
pub struct EsImport {
    /// The Elasticsearch or OpenSearch server (e.g. http://localhost:9200).
    #[arg(long)]
    url: String,
    /// The index to read.
    #[arg(long)]
    index: String,
    /// Which dense_vector field to read, for a mapping with several.
    #[arg(long, value_name = "FIELD")]
    vector_field: Option<String>,
    #[command(flatten)]
    batch: Batch,
    /// Where to write the archive.
    #[command(flatten)]
    pub output: super::Output,
}

impl EsImport {
    /// The index's documents, on their way into an archive.
    pub fn source(&self) -> Result<vecar::ops::bridge::Source<elasticsearch::Hits>> {
        elasticsearch::import(&self.url, &self.index, self.vector_field.as_deref(), self.batch.batch)
    }
}

/// The flags of `vecar export --to qdrant|elasticsearch`.
#[derive(clap::Args)]
pub struct StoreExport {
    /// The store's URL (--to qdrant, elasticsearch); user:password@ is sent as Basic
    /// authentication and never shown.
    #[arg(long, requires = "to")]
    url: Option<String>,
    /// The Qdrant collection to write (--to qdrant); created when missing.
    #[arg(long, requires = "to")]
    collection: Option<String>,
    /// The Elasticsearch index to write (--to elasticsearch); created when missing.
    #[arg(long, requires = "to")]
    index: Option<String>,
    /// Write into a collection or index that already holds points (same ids are replaced): to
    /// add to it, or to finish an export that failed half-way.
    #[arg(long, requires = "to")]
    upsert: bool,
    /// Points or documents per request (--to qdrant, elasticsearch).
    #[arg(long, requires = "to", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    batch: Option<usize>,
}

/// A store `vecar export` writes over HTTP.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A Qdrant collection.
    Qdrant,
    /// An Elasticsearch or OpenSearch index.
    Elasticsearch,
}

impl StoreExport {
    /// A usage error for flags given to a target they are not for (`None`: a file target).
    pub fn check(&self, store: Option<Store>) -> Result<(), super::UsageError> {
        let wrong = |flag: &str, what: &str| Err(super::UsageError(format!("{flag} is for {what}")));
        match store {
            None if self.url.is_some() => wrong("--url", "--to qdrant and --to elasticsearch"),
            None if self.upsert => wrong("--upsert", "--to qdrant and --to elasticsearch"),
            None if self.batch.is_some() => wrong("--batch", "--to qdrant and --to elasticsearch"),
            Some(Store::Qdrant) | None if self.index.is_some() => wrong("--index", "--to elasticsearch"),
            Some(Store::Elasticsearch) | None if self.collection.is_some() => wrong("--collection", "--to qdrant"),
            Some(_) if self.url.is_none() => wrong("--to qdrant and --to elasticsearch", "a store: give --url URL"),
            Some(Store::Qdrant) if self.collection.is_none() => Err(super::UsageError(
                "--to qdrant writes a collection: give --collection NAME".into(),
            )),
            Some(Store::Elasticsearch) if self.index.is_none() => Err(super::UsageError(
                "--to elasticsearch writes an index: give --index NAME".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Writes `archive` into `store`, checked by [`StoreExport::check`] first, and says how it
    /// went.
    pub fn run(&self, archive: &Archive, store: Store) -> Result<()> {
        let url = self.url.as_deref().unwrap_or_default();
        let batch = self.batch.unwrap_or(DEFAULT_BATCH);
        let (written, held, noun, name) = match store {
            Store::Qdrant => {
                let name = self.collection.as_deref().unwrap_or_default();
                let done = qdrant::export(archive, url, name, self.upsert, batch)?;
                (done.written, done.held, "points", format!("collection {name}"))
            }
            Store::Elasticsearch => {
                let name = self.index.as_deref().unwrap_or_default();
                let done = elasticsearch::export(archive, url, name, self.upsert, batch)?;
                (done.written, done.held, "documents", format!("index {name}"))
            }
        };
        progress::say(&format!("exported {written} {noun} into {name}, which holds {held}"));
        Ok(())
    }
}
