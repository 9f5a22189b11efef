//! Bytes read by position: a file read in place, bytes held in memory, or a remote file read by
//! ranges.

use std::fs::File;
use std::os::unix::fs::FileExt;

use anyhow::Result;

/// Bytes read by position (as a [`BlockSource`](super::source::BlockSource) gives blocks by CID):
/// a file read in place, or bytes read whole (stdin, an index in memory).
pub enum ByteSource {
    /// An open file.
    File(File),
    /// Bytes in memory.
    Memory(Vec<u8>),
    /// A file elsewhere, read by ranges (HTTP range requests): each read is a round trip.
    Remote(Box<dyn ReadAt>),
}

/// A file elsewhere, read by position.
pub trait ReadAt: Send + Sync {
    /// How many bytes it holds.
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes from `offset` on; an error if they run out first.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ByteSource {
    /// How many bytes there are.
    pub fn size(&self) -> Result<u64> {
        Ok(match self {
            ByteSource::File(f) => f.metadata()?.len(),
            ByteSource::Memory(v) => v.len() as u64,
            ByteSource::Remote(r) => r.size(),
        })
    }

    /// Fills `buf` with the bytes from `offset` on; an error if they run out first.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            ByteSource::File(f) => f.read_exact_at(buf, offset),
            ByteSource::Remote(r) => r.read_at(offset, buf),
            ByteSource::Memory(v) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                match v.get(start..).and_then(|rest| rest.get(..buf.len())) {
                    Some(bytes) => {
                        buf.copy_from_slice(bytes);
                        Ok(())
                    }
                    None => Err(std::io::ErrorKind::UnexpectedEof.into()),
                }
            }
        }
    }
}
