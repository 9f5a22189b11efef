//! Vector search: the usearch HNSW index, exact scans, and scoring.

pub mod field_path;
pub mod filter;
pub mod hnsw;
pub mod kmeans;
pub mod layout;
pub mod multi;
pub mod params;
pub mod partitioned;
pub mod search;
mod top;
