//! Writing a CAR file with one root, block by block: a plain CARv1, or a CARv2 whose block
//! index, planned from the blocks' sizes up front, follows the payload.

use std::io::Write;

use anyhow::{bail, Context, Result};
use cid::Cid;

use super::header::{section_len, v1_header, write_varint, CARV2_DATA_OFFSET, CARV2_PRAGMA};
use crate::archive::car_index;

/// Writes a CAR file with one root, block by block.
pub struct CarWriter<W: Write> {
    out: W,
    /// Bytes of the CARv1 payload written so far.
    written: u64,
    /// For a CARv2: the payload's planned size and the index that follows it.
    index: Option<(u64, Vec<u8>)>,
}

impl<W: Write> CarWriter<W> {
    /// Writes a CARv1 header naming `root` and returns a writer for the blocks.
    pub fn new(out: W, root: &Cid) -> Result<Self> {
        let mut car = CarWriter {
            out,
            written: 0,
            index: None,
        };
        car.write_v1_header(root)?;
        Ok(car)
    }

    /// Writes a CARv2 header and the CARv1 header naming `root`, for exactly the blocks
    /// `blocks` (CID and data length) in this order; [`finish`](Self::finish) appends their index.
    pub fn with_index(mut out: W, root: &Cid, blocks: impl IntoIterator<Item = (Cid, u64)>) -> Result<Self> {
        let mut size = v1_header(root)?.len() as u64;
        let mut entries = Vec::new();
        for (cid, len) in blocks {
            let digest = cid
                .hash()
                .digest()
                .try_into()
                .context("CAR index: CID is not sha2-256")?;
            entries.push((digest, size));
            size += section_len(&cid, len);
        }
        out.write_all(&CARV2_PRAGMA)?;
        out.write_all(&[0; 16])?; // characteristics: none claimed
        for field in [CARV2_DATA_OFFSET, size, CARV2_DATA_OFFSET + size] {
            out.write_all(&field.to_le_bytes())?;
        }
        let mut car = CarWriter {
            out,
            written: 0,
            index: Some((size, car_index::encode(entries))),
        };
        car.write_v1_header(root)?;
        Ok(car)
    }

    fn write_v1_header(&mut self, root: &Cid) -> Result<()> {
        let header = v1_header(root)?;
        self.out.write_all(&header)?;
        self.written += header.len() as u64;
        Ok(())
    }

    /// Appends one block as a section: its CID and its bytes.
    pub fn write(&mut self, cid: &Cid, data: &[u8]) -> Result<()> {
        let cid_bytes = cid.to_bytes();
        write_varint(&mut self.out, (cid_bytes.len() + data.len()) as u64)?;
        self.out.write_all(&cid_bytes)?;
        self.out.write_all(data)?;
        self.written += section_len(cid, data.len() as u64);
        Ok(())
    }

    /// Appends the index (for a CARv2), flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        if let Some((size, index)) = &self.index {
            if *size != self.written {
                bail!(
                    "CAR index planned {size} bytes of blocks but {} were written",
                    self.written
                );
            }
            self.out.write_all(index)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
