//! Vectors, row after row, in an unnamed temporary file mapped into memory: the kernel keeps in
//! RAM what fits and writes the rest back to the file, so the memory a build or an update needs
//! does not grow with its vectors (10M rows of 384 numbers are 15 GB). The file's room is
//! reserved on disk before it is written through the map, so a full disk is an error, not a
//! SIGBUS; the file is this process's own and removed with it, so the mapped numbers change
//! only through the spool.

use std::fs::File;
use std::ops::{Deref, DerefMut};

use anyhow::{bail, Context, Result};
use memmap2::MmapMut;

/// Bytes of one number.
const NUMBER: usize = size_of::<f32>();
/// Numbers room is first made for (4 MiB); then the room doubles as it fills.
const FIRST_ROOM: usize = 1 << 20;

/// Numbers appended, read and changed as one slice, kept in a temporary file.
pub struct VectorSpool {
    file: File,
    /// The whole file, once it has room; `len` numbers of it are used.
    map: Option<MmapMut>,
    len: usize,
}

impl VectorSpool {
    /// An empty spool in a new temporary file (removed when the spool is dropped).
    pub fn new() -> Result<VectorSpool> {
        Ok(VectorSpool {
            file: tempfile::tempfile().context("creating a temporary file for the vectors")?,
            map: None,
            len: 0,
        })
    }

    /// Appends `numbers`, making room in the file when it is full.
    pub fn extend_from_slice(&mut self, numbers: &[f32]) -> Result<()> {
        let end = self.len + numbers.len();
        if end > self.room() {
            self.grow(end)?;
        }
        self.len = end;
        self[end - numbers.len()..].copy_from_slice(numbers);
        Ok(())
    }

    /// Keeps the rows of `width` numbers for which `keep(row)` is true, in order.
    pub fn retain_rows(&mut self, width: usize, keep: impl Fn(usize) -> bool) {
        let mut kept = 0;
        for row in 0..self.len / width.max(1) {
            if keep(row) {
                self.copy_within(row * width..(row + 1) * width, kept * width);
                kept += 1;
            }
        }
        self.len = kept * width;
    }

    /// How many numbers the file has room for.
    fn room(&self) -> usize {
        self.map.as_ref().map_or(0, |map| map.len() / NUMBER)
    }

    /// Makes room for at least `numbers` numbers: doubles the file (or more), reserves its
    /// blocks on disk, and maps it again.
    fn grow(&mut self, numbers: usize) -> Result<()> {
        let room = numbers.max(self.room() * 2).max(FIRST_ROOM);
        let Some(bytes) = room.checked_mul(NUMBER).filter(|&b| b <= i64::MAX as usize) else {
            bail!("{numbers} numbers are more than a temporary file can hold");
        };
        self.map = None;
        reserve(&self.file, bytes)
            .with_context(|| format!("no room for {bytes} bytes of vectors in a temporary file (see TMPDIR)"))?;
        // SAFETY: the file is an unnamed temporary file only this spool holds, so nothing else
        // changes or shrinks it while it is mapped; its blocks are reserved, so writing through
        // the map cannot fail for want of space.
        let map = unsafe { MmapMut::map_mut(&self.file) }.context("mapping the vectors' temporary file")?;
        self.map = Some(map);
        Ok(())
    }
}

/// Sets `file` to `bytes` long with every block allocated on disk.
#[cfg(target_os = "linux")]
fn reserve(file: &File, bytes: usize) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a file descriptor this process owns.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, bytes as libc::off_t) } {
        0 => Ok(()),
        code => Err(std::io::Error::from_raw_os_error(code).into()),
    }
}

/// Elsewhere, the file is only made long enough (a full disk may then stop the process when the
/// map is written).
#[cfg(not(target_os = "linux"))]
fn reserve(file: &File, bytes: usize) -> Result<()> {
    Ok(file.set_len(bytes as u64)?)
}

impl Deref for VectorSpool {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match &self.map {
            None => &[],
            // SAFETY: the map starts on a page boundary (aligned for f32), holds `room()` ≥
            // `len` numbers, and every bit pattern is a valid f32.
            Some(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), self.len) },
        }
    }
}

impl DerefMut for VectorSpool {
    fn deref_mut(&mut self) -> &mut [f32] {
        match &mut self.map {
            None => &mut [],
            // SAFETY: as in `deref`, and the map is borrowed mutably for the slice's life.
            Some(map) => unsafe { std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<f32>(), self.len) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VectorSpool;

    #[test]
    fn numbers_survive_growth_changes_and_removal() {
        let mut spool = VectorSpool::new().unwrap();
        assert!(spool.is_empty());
        let rows: Vec<f32> = (0..3 << 20).map(|i| i as f32).collect();
        for row in rows.chunks(3) {
            spool.extend_from_slice(row).unwrap();
        }
        assert_eq!(&spool[..], &rows[..]);
        spool[3..6].copy_from_slice(&[-1.0, -2.0, f32::MAX]);
        spool.retain_rows(3, |row| row % 2 == 1);
        assert_eq!(spool.len(), rows.len() / 2);
        assert_eq!(&spool[..6], &[-1.0, -2.0, f32::MAX, 9.0, 10.0, 11.0]);
        assert_eq!(spool.last(), rows.last());
    }
}
