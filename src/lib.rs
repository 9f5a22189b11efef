//! vecar's library: the archive format, search, input parsing and output, used by the `vecar`
//! binary (src/main.rs, src/cmd/) and by the fuzz targets (fuzz/).

pub mod archive;
pub mod embed;
pub mod index;
pub mod input;
pub mod ops;
pub mod output;
pub mod progress;
