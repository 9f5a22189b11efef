//! The manifest: the archive's root block, naming the format and linking the three collections.

use anyhow::{bail, Context, Result};
use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};

use super::block::decode_dag_cbor;
use super::tree::Collection;
use crate::params::{
    partition_code_bytes, partition_row_bytes, partition_rows_per_chunk, EmbeddingInfo, IndexParams, Metric,
    PARTITIONED_ENGINE, PARTITIONED_VERSION, PARTITIONED_VERSION_1,
};

/// Format name written in every manifest.
pub const FORMAT_NAME: &str = "vecar";
/// Version of the archive format this build writes. It also reads version 1, whose vector
/// chunks hold a fixed number of rows.
pub const FORMAT_VERSION: u64 = 2;
/// Bytes of the serialized index per raw chunk (the last one may be shorter).
pub const INDEX_CHUNK_SIZE: u64 = 1 << 20;
/// Version 1: target bytes of vector data per chunk; rows per chunk is the largest power of two
/// that fits.
const V1_VECTOR_CHUNK_TARGET: u64 = 256 * 1024;

/// The root block of an archive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "vecar".
    pub format: String,
    /// Format version; see docs/FORMAT.md.
    pub version: u64,
    /// Number of records (and vectors).
    pub count: u64,
    /// Length of every vector.
    pub dimensions: u64,
    /// Input field names the records were read with.
    pub fields: Fields,
    /// The records, DAG-CBOR arrays of maps, in input order.
    pub records: Collection,
    /// The original vectors, little-endian float32 rows, in input order.
    pub vectors: Vectors,
    /// The usearch HNSW index over the vectors, keyed by row number.
    pub index: IndexInfo,
    /// The provider that made the vectors from the texts, when vecar embedded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingInfo>,
}

/// Names of the input fields that hold the id, vector and text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    /// Field holding the record's unique id.
    pub id: String,
    /// Field that held the vector (it is stored apart from the record).
    pub vector: String,
    /// Field holding the record's text.
    pub text: String,
}

/// The vectors collection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vectors {
    /// Version 1 only: rows in every chunk but the last. Version 2 chunks end where the ids say
    /// (see `chunking`), and the link counts tell the rows of each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_chunk: Option<u64>,
    /// The chunks; items are rows.
    pub chunks: Collection,
}

/// The index collection and how it was built.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexInfo {
    /// "usearch" (an HNSW graph) or "partitioned" (centroids and partitions).
    pub engine: String,
    /// Version of usearch that wrote the bytes, or of the partitioned layout.
    pub engine_version: String,
    /// Metric, scalar kind and HNSW parameters (a partitioned index uses only the metric).
    pub params: IndexParams,
    /// The serialized usearch index, or a partitioned index's centroids (little-endian float32
    /// rows), in raw chunks; items are bytes.
    pub chunks: Collection,
    /// A partitioned index's partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Partitions>,
    /// Rows no search through the index's graph can return, ascending; every search scans them
    /// too. Absent when there are none, and in archives written before vecar checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<u64>,
}

/// The partitions of a partitioned index (docs/FORMAT.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Partitions {
    /// Rows in each partition, in the order of the centroids.
    pub sizes: Vec<u64>,
    /// The partitions' row lists, partition after partition, each partition cut every
    /// `partition_rows_per_chunk` rows; items are rows. Absent in version 1, whose `chunks`
    /// hold the row numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Collection>,
    /// The partitions' codes, cut at the same rows as `rows`; items are rows.
    pub chunks: Collection,
}

impl Partitions {
    /// How many chunks each partition has, for vectors of `dimensions` numbers.
    pub fn chunk_counts(&self, dimensions: u64) -> impl Iterator<Item = u64> + '_ {
        let per_chunk = partition_rows_per_chunk(dimensions as usize) as u64;
        self.sizes.iter().map(move |size| size.div_ceil(per_chunk))
    }

    /// Bytes of one row in a `chunks` chunk: its codes, and in version 1 its number too.
    pub fn code_bytes(&self, dimensions: u64) -> u64 {
        match self.rows {
            Some(_) => partition_code_bytes(dimensions as usize) as u64,
            None => partition_row_bytes(dimensions as usize) as u64,
        }
    }
}

#[derive(Deserialize)]
struct Head {
    format: String,
    version: u64,
}

/// The error for a root block whose format and version could not be read (`e`): what it holds
/// instead, in words.
fn not_a_manifest(bytes: &[u8], e: anyhow::Error) -> anyhow::Error {
    let kind = match decode_dag_cbor::<Ipld>(bytes) {
        Err(_) => return e.context("not a vecar archive (root is not valid DAG-CBOR)"),
        Ok(Ipld::Map(map)) => match map.get("format") {
            Some(Ipld::String(format)) if format == FORMAT_NAME => return e.context("manifest is malformed"),
            _ => "map without \"format\": \"vecar\"",
        },
        Ok(Ipld::Null) => "null",
        Ok(Ipld::Bool(_)) => "boolean",
        Ok(Ipld::Integer(_)) => "integer",
        Ok(Ipld::Float(_)) => "float",
        Ok(Ipld::String(_)) => "string",
        Ok(Ipld::Bytes(_)) => "byte string",
        Ok(Ipld::List(_)) => "list",
        Ok(Ipld::Link(_)) => "link",
    };
    anyhow::anyhow!("not a vecar archive (root is a DAG-CBOR {kind})")
}

impl Manifest {
    /// Decodes a manifest block, refusing other formats and future versions by name.
    pub fn decode(bytes: &[u8]) -> Result<Manifest> {
        let head = decode_dag_cbor::<Head>(bytes).map_err(|e| not_a_manifest(bytes, e))?;
        if head.format != FORMAT_NAME {
            bail!("not a vecar archive (root is a {:?} manifest)", head.format);
        }
        if !(1..=FORMAT_VERSION).contains(&head.version) {
            bail!(
                "archive format version {} is not supported (this vecar reads version {FORMAT_VERSION})",
                head.version
            );
        }
        decode_dag_cbor(bytes).context("manifest is malformed")
    }

    /// Checks the manifest's numbers against each other and against the file's size, so that
    /// nothing read later allocates more than the file can hold.
    pub fn check(&self, file_len: u64) -> Result<()> {
        let rows = self.count;
        if rows == 0 || self.dimensions == 0 {
            bail!("manifest: count and dimensions must be positive");
        }
        if rows > file_len || self.dimensions > (crate::archive::block::MAX_BLOCK_SIZE / 4) as u64 {
            bail!(
                "manifest claims {rows} records of {} dimensions; the file cannot hold them",
                self.dimensions
            );
        }
        if let Some(d) = self.embedding.as_ref().and_then(|e| e.dimensions) {
            if d != self.dimensions {
                bail!(
                    "manifest: the embedding model makes {d}-dimensional vectors, not {}",
                    self.dimensions
                );
            }
        }
        if self.records.items != rows || self.vectors.chunks.items != rows {
            bail!("manifest: records and vectors must both hold {rows} rows");
        }
        if self.records.chunks > rows {
            bail!("manifest: more record chunks than records");
        }
        let vectors = &self.vectors;
        let chunking_ok = match (self.version, vectors.rows_per_chunk) {
            (1, Some(n)) => n == v1_rows_per_chunk(self.dimensions) && vectors.chunks.chunks == rows.div_ceil(n),
            (1, None) | (_, Some(_)) => false,
            (_, None) => vectors.chunks.chunks <= rows,
        };
        if !chunking_ok {
            bail!(
                "manifest: vector chunking does not match {} dimensions",
                self.dimensions
            );
        }
        self.check_index(file_len)
    }

    /// Checks the index's numbers: its bytes fit the file, its settings are in range, the
    /// unreachable rows are rows, and its engine is one vecar knows (with a partitioned index's
    /// own checks).
    fn check_index(&self, file_len: u64) -> Result<()> {
        let rows = self.count;
        let index = &self.index.chunks;
        if index.items == 0
            || index.items > file_len.saturating_mul(16)
            || index.chunks != index.items.div_ceil(INDEX_CHUNK_SIZE)
        {
            bail!(
                "manifest: index of {} bytes in {} chunks does not fit this file",
                index.items,
                index.chunks
            );
        }
        self.index.params.check().context("manifest")?;
        if self.index.params.normalized && self.index.params.metric != Metric::Cos {
            bail!("manifest: only a cos index holds normalized vectors");
        }
        if !self.index.unreachable.windows(2).all(|w| w[0] < w[1])
            || self.index.unreachable.last().is_some_and(|&row| row >= rows)
        {
            bail!("manifest: index.unreachable must list rows below {rows} in ascending order, once each");
        }
        match (self.index.engine.as_str(), &self.index.partitions) {
            ("usearch", None) => Ok(()),
            (PARTITIONED_ENGINE, Some(partitions)) => self.check_partitions(partitions),
            ("usearch" | PARTITIONED_ENGINE, _) => bail!(
                "manifest: index.partitions does not match engine {:?}",
                self.index.engine
            ),
            (engine, _) => bail!("manifest: unknown index engine {engine:?}"),
        }
    }

    /// Checks a partitioned index's numbers: as many partitions as centroids, at most one per
    /// row, every row in one of them, chunks cut as the layout says.
    fn check_partitions(&self, partitions: &Partitions) -> Result<()> {
        let index = &self.index;
        match (index.engine_version.as_str(), &partitions.rows) {
            (PARTITIONED_VERSION, Some(_)) | (PARTITIONED_VERSION_1, None) => {}
            (PARTITIONED_VERSION | PARTITIONED_VERSION_1, _) => {
                bail!("manifest: index.partitions.rows does not match partitioned index version {:?}", index.engine_version)
            }
            (version, _) => bail!(
                "manifest: partitioned index version {version:?} is not supported (this vecar reads {PARTITIONED_VERSION_1:?} and {PARTITIONED_VERSION:?})"
            ),
        }
        let count = partitions.sizes.len() as u64;
        let total = partitions
            .sizes
            .iter()
            .try_fold(0u64, |sum, &size| sum.checked_add(size));
        if count == 0 || count > self.count || Some(index.chunks.items) != count.checked_mul(self.dimensions * 4) {
            bail!(
                "manifest: {count} partitions do not match {} bytes of centroids",
                index.chunks.items
            );
        }
        if total != Some(self.count) {
            bail!("manifest: the partitions must hold the {} rows", self.count);
        }
        let chunks: u64 = partitions.chunk_counts(self.dimensions).sum();
        for list in partitions.rows.iter().chain([&partitions.chunks]) {
            if list.chunks != chunks || list.items != self.count {
                bail!(
                    "manifest: partitions of these sizes take {chunks} chunks of {} rows, not {} of {}",
                    self.count,
                    list.chunks,
                    list.items
                );
            }
        }
        if !index.unreachable.is_empty() {
            bail!("manifest: a partitioned index has no unreachable rows");
        }
        Ok(())
    }
}

/// Version 1: rows per vector chunk for vectors of `dimensions` float32 values.
fn v1_rows_per_chunk(dimensions: u64) -> u64 {
    let row = dimensions.max(1) * 4;
    let mut rows = 1;
    while rows * 2 * row <= V1_VECTOR_CHUNK_TARGET {
        rows *= 2;
    }
    rows
}
