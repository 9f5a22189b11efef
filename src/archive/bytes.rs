//! Bytes read by position: a file read in place, bytes held in memory, or a remote file read by
//! ranges.

use std::fs::File;
use std::os::unix::fs::FileExt;

use anyhow::Result;
use bytes::Bytes;

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

    /// The whole of a file, mapped into memory and shared, so a block can be read without a copy
    /// into fresh memory (which the kernel must first zero: a third of a cold query's time);
    /// `None` for bytes that are not a file here, or a file that cannot be mapped.
    ///
    /// A file cut short while mapped makes a read of its lost part fail with SIGBUS, as with any
    /// mapped file (ripgrep's choice too): vecar never cuts a file it reads, writing each output
    /// to a temporary file renamed into place, which leaves the old file whole to readers.
    pub fn map(&self) -> Option<Bytes> {
        let ByteSource::File(file) = self else {
            return None;
        };
        // SAFETY: the map is only read, as `&[u8]`, and every block read from it is checked
        // against its hash before use; see above for a file changed under the map.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        Some(Bytes::from_owner(map))
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
