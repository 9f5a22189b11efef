//! Encoded records kept in an unnamed temporary file, so that the memory of a build or an update
//! does not grow with the records' text: only each record's place in the file stays in memory.

use std::fs::File;
use std::os::unix::fs::FileExt;

use anyhow::{Context, Result};

use super::records::packed_header;

/// Bytes gathered in memory before they are written to the file.
const BUFFER: usize = 8 << 20;

/// Records by row: appended, replaced or dropped; read back by row or by run of rows.
pub struct Spool {
    file: File,
    /// Bytes written to the file so far; `pending` follows them.
    written: u64,
    pending: Vec<u8>,
    /// Each row's offset and length.
    places: Vec<(u64, u32)>,
}

impl Spool {
    /// An empty spool in a new temporary file (removed when the spool is dropped).
    pub fn new() -> Result<Spool> {
        Ok(Spool {
            file: tempfile::tempfile().context("creating a temporary file for the records")?,
            written: 0,
            pending: Vec::new(),
            places: Vec::new(),
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Appends a record.
    pub fn push(&mut self, record: &[u8]) -> Result<()> {
        let place = self.append(record)?;
        self.places.push(place);
        Ok(())
    }

    /// Replaces the record of row `row` (its old bytes stay in the file, unused).
    pub fn replace(&mut self, row: usize, record: &[u8]) -> Result<()> {
        self.places[row] = self.append(record)?;
        Ok(())
    }

    /// Keeps the rows for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut row = 0;
        self.places.retain(|_| {
            row += 1;
            keep(row - 1)
        });
    }

    /// Length of the record of row `row`.
    pub fn size(&self, row: usize) -> usize {
        self.places[row].1 as usize
    }

    /// The record of row `row`.
    pub fn get(&self, row: usize) -> Result<Vec<u8>> {
        let (offset, len) = self.places[row];
        let mut bytes = vec![0; len as usize];
        self.read(offset, &mut bytes)?;
        Ok(bytes)
    }

    /// The bytes of a records chunk holding rows `rows` (see [`super::records::pack`]).
    pub fn pack(&self, rows: std::ops::Range<usize>) -> Result<Vec<u8>> {
        let places = &self.places[rows];
        let mut bytes = packed_header(places.len() as u64);
        let start = bytes.len();
        bytes.resize(start + places.iter().map(|p| p.1 as usize).sum::<usize>(), 0);
        let mut at = start;
        let mut i = 0;
        // Rows appended one after another sit together in the file: read each such run at once.
        while i < places.len() {
            let (offset, mut len) = (places[i].0, places[i].1 as u64);
            let mut j = i + 1;
            while j < places.len() && places[j].0 == offset + len {
                len += places[j].1 as u64;
                j += 1;
            }
            self.read(offset, &mut bytes[at..at + len as usize])?;
            at += len as usize;
            i = j;
        }
        Ok(bytes)
    }

    fn append(&mut self, record: &[u8]) -> Result<(u64, u32)> {
        let place = (self.written + self.pending.len() as u64, record.len() as u32);
        self.pending.extend_from_slice(record);
        if self.pending.len() >= BUFFER {
            self.file
                .write_all_at(&self.pending, self.written)
                .context("writing records to a temporary file")?;
            self.written += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(place)
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let in_file = (self.written.saturating_sub(offset) as usize).min(buf.len());
        if in_file > 0 {
            self.file
                .read_exact_at(&mut buf[..in_file], offset)
                .context("reading records from a temporary file")?;
        }
        if in_file < buf.len() {
            let from = (offset + in_file as u64 - self.written) as usize;
            let rest = buf.len() - in_file;
            buf[in_file..].copy_from_slice(&self.pending[from..from + rest]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record `i`: 1,000 bytes that name it.
    fn record(i: usize) -> Vec<u8> {
        (0..1000).map(|j| ((i * 7 + j) % 251) as u8).collect()
    }

    #[test]
    fn reads_back_across_the_file_and_the_buffer() {
        let mut spool = Spool::new().unwrap();
        // 10,000 records of 1,000 bytes: the first 8 MiB go to the file, the rest stay buffered.
        let mut model: Vec<Vec<u8>> = (0..10_000).map(record).collect();
        model.iter().for_each(|r| spool.push(r).unwrap());
        spool.replace(3, &record(20_000)).unwrap();
        model[3] = record(20_000);
        spool.retain(|row| row % 10 != 5);
        let mut row = 0;
        model.retain(|_| {
            row += 1;
            (row - 1) % 10 != 5
        });
        assert_eq!(spool.len(), model.len());
        for (i, expected) in model.iter().enumerate() {
            assert_eq!(&spool.get(i).unwrap(), expected, "row {i}");
        }
        for range in [0..9, 2..5, 7500..7600, 8990..9000] {
            let mut expected = packed_header(range.len() as u64);
            model[range.clone()].iter().for_each(|r| expected.extend_from_slice(r));
            assert_eq!(spool.pack(range.clone()).unwrap(), expected, "rows {range:?}");
        }
    }
}
