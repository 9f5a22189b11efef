//! The archive: CAR files, blocks and CIDs, the manifest, and the chunked collections.

pub mod block;
pub mod build;
pub mod bytes;
pub mod cache;
pub mod car;
pub mod car_index;
pub mod chunking;
pub mod diff;
pub mod ids;
pub mod listing;
pub mod manifest;
pub mod read;
pub mod records;
pub mod rows;
pub mod source;
pub mod spool;
pub mod tree;
pub mod vector_spool;
pub mod vectors;
pub mod verify;
pub mod walk;
