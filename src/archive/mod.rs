//! The archive: CAR files, blocks and CIDs, the manifest, and the chunked collections.

pub mod block;
pub mod build;
pub mod car;
pub mod manifest;
pub mod read;
pub mod records;
pub mod tree;
pub mod vectors;
pub mod verify;
