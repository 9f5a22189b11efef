//! Bounds-checked reading of a FAISS index file's little-endian fields.

use anyhow::{bail, Context, Result};

/// Reads little-endian fields from the file, failing at its end instead of panicking.
pub(super) struct Cursor<'a> {
    /// The whole file.
    pub(super) bytes: &'a [u8],
    /// Where the next field starts.
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes, holding `what`.
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "truncated: {what} at byte {} needs {n} bytes, the file has {} left",
                self.pos,
                self.bytes.len() - self.pos
            )
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// Skips an array of `n` items of `size` bytes; gives its offset and length in bytes.
    pub(super) fn array(&mut self, n: u64, size: usize, what: &str) -> Result<(usize, usize)> {
        let len = usize::try_from(n).ok().and_then(|n| n.checked_mul(size));
        let left = self.bytes.len() - self.pos;
        let len = len.filter(|&len| len <= left).with_context(|| {
            format!(
                "truncated: {what} at byte {} claims {n} items of {size} bytes, the file has {left} bytes left",
                self.pos
            )
        })?;
        let start = self.pos;
        self.pos += len;
        Ok((start, len))
    }

    /// Skips a FAISS vector (a u64 count, then the items) of items of `size` bytes; gives its
    /// count.
    pub(super) fn skip_vector(&mut self, size: usize, what: &str) -> Result<u64> {
        let n = self.u64(what)?;
        self.array(n, size, what)?;
        Ok(n)
    }

    pub(super) fn fourcc(&mut self) -> Result<[u8; 4]> {
        let b = self.take(4, "index type")?;
        Ok([b[0], b[1], b[2], b[3]])
    }

    pub(super) fn peek_fourcc(&self) -> Result<[u8; 4]> {
        Cursor {
            bytes: self.bytes,
            pos: self.pos,
        }
        .fourcc()
    }

    pub(super) fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn i64(&mut self, what: &str) -> Result<i64> {
        let at = self.take(8, what)?;
        Ok(i64::from_le_bytes(at.try_into().expect("8 bytes")))
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(self.i64(what)? as u64)
    }

    /// The i64 at `at`, inside an array already checked.
    pub(super) fn i64_at(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// The u64 at `at`, inside an array already checked.
    pub(super) fn u64_at(&self, at: usize) -> u64 {
        self.i64_at(at) as u64
    }
}
