//! The settings an archive records: the index's metric, scalar kind and HNSW parameters, and
//! the provider that embedded its texts. Plain data, below every layer: `archive/` stores it in
//! the manifest, `index/` builds and searches by it (its distances, scores and usearch kinds are
//! in `index/params.rs`), `embed/` describes its providers with it.

use serde::{Deserialize, Serialize};

/// Distance metric between vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine: distance = 1 − cos(a, b); score = cos(a, b).
    Cos,
    /// Squared Euclidean: distance = Σ(a−b)²; score = −distance.
    L2,
    /// Inner product: distance = 1 − a·b; score = a·b.
    Ip,
}

/// Scalar kind the index stores its copy of the vectors in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats: exact, largest.
    F32,
    /// IEEE half precision: half the size; values beyond ±65504 overflow.
    F16,
    /// bfloat16: half the size, float32's range.
    Bf16,
    /// 8-bit integers: a quarter of the size; usearch normalises for cos, so it suits cos.
    I8,
}

/// Everything that shapes an HNSW index, as recorded in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexParams {
    /// Distance metric.
    pub metric: Metric,
    /// Scalar kind of the index's vectors.
    pub dtype: Dtype,
    /// HNSW M: links per node.
    pub connectivity: u64,
    /// HNSW ef_construction.
    pub expansion_add: u64,
    /// HNSW ef_search used when a query gives no --ef.
    pub expansion_search: u64,
    /// The index holds unit-length copies of the vectors under usearch's inner product, which
    /// ranks as cosine does at less cost; queries are scaled the same way. Set for cos from
    /// format version 2 on; absent (false) in version 1, whose cos indexes use usearch's cos.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub normalized: bool,
}

/// Most links per node (HNSW M) an index may have; its base layer has up to twice as many.
pub const MAX_CONNECTIVITY: u64 = 1024;
/// Widest breadth (HNSW ef) when building or searching.
pub const MAX_EXPANSION: u64 = 65536;

/// HNSW links per node (M) when none is given.
pub const DEFAULT_CONNECTIVITY: u64 = 16;
/// HNSW breadth while building (ef_construction) when none is given.
pub const DEFAULT_EXPANSION_ADD: u64 = 128;
/// HNSW breadth while searching (ef) when none is given.
pub const DEFAULT_EXPANSION_SEARCH: u64 = 64;

impl IndexParams {
    /// Checks the HNSW numbers are in the ranges `build` accepts, so that an archive from anyone
    /// cannot make a search or an update allocate by them.
    pub fn check(&self) -> anyhow::Result<()> {
        for (name, value, range) in [
            ("connectivity", self.connectivity, 2..=MAX_CONNECTIVITY),
            ("expansion_add", self.expansion_add, 1..=MAX_EXPANSION),
            ("expansion_search", self.expansion_search, 1..=MAX_EXPANSION),
        ] {
            if !range.contains(&value) {
                anyhow::bail!("{name} {value} is out of range ({} to {})", range.start(), range.end());
            }
        }
        Ok(())
    }
}

/// What an archive's manifest records about the provider that embedded its texts, so that
/// queries by text can use the same model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    /// "local", "http" or "command".
    pub provider: String,
    /// The model: a local model directory's name, the model name sent to an endpoint, or the
    /// command line.
    pub model: String,
    /// Length of every vector; unknown for a remote provider until it has answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u64>,
    /// Local models: the CID (raw codec, sha2-256) of the weights file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

/// The name a partitioned index has in the manifest's `index.engine`.
pub const PARTITIONED_ENGINE: &str = "partitioned";
/// Version of the partitioned layout this vecar writes (docs/FORMAT.md), the manifest's
/// `index.engine_version`: each partition's row numbers apart from its codes.
pub const PARTITIONED_VERSION: &str = "2";
/// The first partitioned layout, which vecar still reads: each row's number inside its codes.
pub const PARTITIONED_VERSION_1: &str = "1";
/// Bytes of a row number in a partition's row list (u64, little-endian).
pub const PARTITION_ROW_NUMBER: usize = 8;
/// Bytes before each row's quantized vector in a partition's codes: the scale (f32) and the
/// squared length of the quantized vector (f32), little-endian.
pub const PARTITION_CODE_HEADER: usize = 8;
/// Most bytes of one partition's rows and codes chunks together: a block's limit.
const PARTITION_CHUNK_BYTES: usize = 1 << 20;

/// Bytes of one row's codes in a partition for vectors of `dimensions` numbers.
pub fn partition_code_bytes(dimensions: usize) -> usize {
    PARTITION_CODE_HEADER + dimensions
}

/// Bytes a row takes in a partition, its number and its codes (and in a version 1 chunk), for
/// vectors of `dimensions` numbers.
pub fn partition_row_bytes(dimensions: usize) -> usize {
    PARTITION_ROW_NUMBER + partition_code_bytes(dimensions)
}

/// Rows in every chunk of a partition but its last, for vectors of `dimensions` numbers; the
/// rows and codes of a partition are cut at the same rows.
pub fn partition_rows_per_chunk(dimensions: usize) -> usize {
    (PARTITION_CHUNK_BYTES / partition_row_bytes(dimensions)).max(1)
}
