//! CAR files: a streaming writer (CARv2 with a block index, or plain CARv1) and a random-access
//! reader (CARv1, or the CARv1 payload inside a CARv2), a source of blocks for the archive.
//!
//! The reader finds blocks through a CARv2 index when the file has one it can read, so opening
//! costs the same however many blocks the file holds; otherwise, or when the index does not
//! lead to a block, it walks every section head once. An index is only a hint: every block is
//! still checked against its CID.

mod header;
mod reader;
mod writer;

pub use reader::{CarFile, Location};
pub use writer::CarWriter;
