//! CAR files: a streaming CARv1 writer and a random-access reader (CARv1, or the CARv1
//! payload inside a CARv2) that indexes section headers and verifies every block it returns.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use cid::Cid;
use serde::{Deserialize, Serialize};

use super::block::{check_cid_kind, decode_dag_cbor, hash_matches, MAX_BLOCK_SIZE};
use super::bytes::Bytes;

/// Bytes that start every CARv2 file.
const CARV2_PRAGMA: [u8; 11] = [0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02];
/// Size of the CARv2 header that follows the pragma.
const CARV2_HEADER_LEN: u64 = 40;
/// The largest CARv1 header accepted (one root needs about 50 bytes).
const MAX_HEADER_LEN: u64 = 64 * 1024;
/// The largest section accepted: a full block plus a CID.
const MAX_SECTION_LEN: u64 = MAX_BLOCK_SIZE as u64 + 128;
/// Bytes read to decode a section's length and CID.
const SECTION_HEAD_WINDOW: usize = 9 + 128;

#[derive(Serialize)]
struct HeaderOut<'a> {
    roots: [&'a Cid; 1],
    version: u64,
}

#[derive(Deserialize)]
struct HeaderIn {
    version: u64,
    #[serde(default)]
    roots: Option<Vec<Cid>>,
}

/// Writes a CARv1 file with one root, block by block.
pub struct CarWriter<W: Write> {
    out: W,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header naming `root` and returns a writer for the blocks.
    pub fn new(mut out: W, root: &Cid) -> Result<Self> {
        let header = serde_ipld_dagcbor::to_vec(&HeaderOut {
            roots: [root],
            version: 1,
        })?;
        write_varint(&mut out, header.len() as u64)?;
        out.write_all(&header)?;
        Ok(CarWriter { out })
    }

    /// Appends one block as a section: its CID and its bytes.
    pub fn write(&mut self, cid: &Cid, data: &[u8]) -> Result<()> {
        let cid = cid.to_bytes();
        write_varint(&mut self.out, (cid.len() + data.len()) as u64)?;
        self.out.write_all(&cid)?;
        self.out.write_all(data)?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_varint(out: &mut impl Write, n: u64) -> std::io::Result<()> {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.write_all(unsigned_varint::encode::u64(n, &mut buf))
}

/// Decodes the varint at the start of `bytes` (read from byte `pos` of `name`): its value and
/// its length. Fewer than 10 bytes means the file ends there.
fn decode_varint(bytes: &[u8], pos: u64, name: &str, what: &str) -> Result<(u64, u64)> {
    match unsigned_varint::decode::u64(&bytes[..bytes.len().min(10)]) {
        Ok((value, rest)) => Ok((value, (bytes.len().min(10) - rest.len()) as u64)),
        Err(unsigned_varint::decode::Error::Insufficient) if bytes.len() < 10 => {
            bail!("{name}: byte {pos}: file is truncated inside the {what}")
        }
        Err(e) => bail!("{name}: byte {pos}: invalid {what}: {e}"),
    }
}

/// Where one block's bytes sit in the file.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    /// Byte offset of the section (its length varint) from the start of the file.
    pub section: u64,
    /// Byte offset of the block's data.
    pub offset: u64,
    /// Length of the block's data.
    pub len: u64,
}

/// An open CAR file: its root, and where each block is. Blocks are read and verified on demand.
pub struct CarFile {
    name: String,
    source: Bytes,
    root: Cid,
    order: Vec<Cid>,
    blocks: HashMap<Cid, Location>,
    file_len: u64,
}

impl CarFile {
    /// Opens `path` (`-` reads standard input whole) and indexes its sections.
    pub fn open(path: &Path) -> Result<CarFile> {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            return CarFile::from_bytes("<stdin>", bytes);
        }
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        CarFile::index(name, Bytes::File(file))
    }

    /// Indexes a CAR held in memory; `name` is used in messages.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CarFile> {
        CarFile::index(name.to_string(), Bytes::Memory(bytes))
    }

    fn index(name: String, source: Bytes) -> Result<CarFile> {
        let file_len = source.size()?;
        let mut car = CarFile {
            name,
            source,
            root: Cid::default(),
            order: Vec::new(),
            blocks: HashMap::new(),
            file_len,
        };
        if file_len == 0 {
            bail!("{}: empty file, not a CAR", car.name);
        }
        let (mut pos, end) = car.read_header(0, file_len)?;
        while pos < end {
            let (cid, location) = car.read_section_head(pos, end)?;
            if car.blocks.insert(cid, location).is_some() {
                bail!("{}: byte {pos}: duplicate block {cid}", car.name);
            }
            car.order.push(cid);
            pos = location.offset + location.len;
        }
        Ok(car)
    }

    /// Reads the CAR header at `start`; returns the offset of the first section and the end of
    /// the CARv1 payload. A CARv2 wrapper is followed to its inner CARv1 payload.
    fn read_header(&mut self, start: u64, end: u64) -> Result<(u64, u64)> {
        let name = &self.name;
        let (len, varint_len) = self.read_varint(start, end, "CAR header length")?;
        if len == 0 || len > MAX_HEADER_LEN || start + varint_len + len > end {
            bail!("{name}: byte {start}: CAR header claims {len} bytes, which this file cannot hold");
        }
        let mut bytes = vec![0; len as usize];
        self.source.read_at(start + varint_len, &mut bytes)?;
        let header: HeaderIn = decode_dag_cbor(&bytes).with_context(|| format!("{name}: byte {start}: CAR header"))?;
        match (header.version, header.roots) {
            (1, Some(roots)) => {
                if roots.len() != 1 {
                    bail!(
                        "{name}: CAR header has {} roots; a vecar archive has exactly one",
                        roots.len()
                    );
                }
                self.root = roots[0];
                Ok((start + varint_len + len, end))
            }
            (2, _) if start == 0 => self.read_v2_header(),
            (version, _) => {
                bail!("{name}: unsupported CAR version {version} (vecar reads CARv1 and CARv2)")
            }
        }
    }

    fn read_v2_header(&mut self) -> Result<(u64, u64)> {
        let name = &self.name;
        let header_end = CARV2_PRAGMA.len() as u64 + CARV2_HEADER_LEN;
        let mut pragma = [0u8; CARV2_PRAGMA.len()];
        let mut header = [0u8; CARV2_HEADER_LEN as usize];
        if self.file_len < header_end {
            bail!("{name}: CARv2 header is truncated");
        }
        self.source.read_at(0, &mut pragma)?;
        self.source.read_at(CARV2_PRAGMA.len() as u64, &mut header)?;
        if pragma != CARV2_PRAGMA {
            bail!("{name}: malformed CARv2 pragma");
        }
        let field = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
        let (offset, size) = (field(16), field(24));
        let payload_end = offset
            .checked_add(size)
            .filter(|&e| offset >= header_end && e <= self.file_len);
        let Some(payload_end) = payload_end else {
            bail!("{name}: CARv2 header points at bytes {offset}+{size}, outside the file");
        };
        self.read_header(offset, payload_end)
    }

    fn read_varint(&self, pos: u64, end: u64, what: &str) -> Result<(u64, u64)> {
        let mut window = [0u8; 10];
        let n = window.len().min((end - pos) as usize);
        self.source.read_at(pos, &mut window[..n])?;
        decode_varint(&window[..n], pos, &self.name, what)
    }

    /// Reads the section at `pos`: its length varint and its CID, in one read.
    fn read_section_head(&self, pos: u64, end: u64) -> Result<(Cid, Location)> {
        let name = &self.name;
        let mut window = [0u8; 10 + SECTION_HEAD_WINDOW];
        let window = &mut window[..(end - pos).min((10 + SECTION_HEAD_WINDOW) as u64) as usize];
        self.source.read_at(pos, window)?;
        let (len, varint_len) = decode_varint(window, pos, name, "section length")?;
        let body = pos + varint_len;
        if len > MAX_SECTION_LEN {
            bail!("{name}: byte {pos}: section claims {len} bytes; blocks are at most {MAX_BLOCK_SIZE}");
        }
        if len > end - body {
            bail!(
                "{name}: byte {pos}: section claims {len} bytes but only {} remain (truncated file?)",
                end - body
            );
        }
        let head = &window[varint_len as usize..];
        let mut cursor = &head[..(len as usize).min(head.len())];
        let before = cursor.len();
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| anyhow::anyhow!("{name}: byte {body}: invalid CID: {e}"))?;
        check_cid_kind(&cid).with_context(|| format!("{name}: byte {body}"))?;
        let cid_len = (before - cursor.len()) as u64;
        let location = Location {
            section: pos,
            offset: body + cid_len,
            len: len - cid_len,
        };
        if location.len > MAX_BLOCK_SIZE as u64 {
            bail!(
                "{name}: byte {pos}: block {cid} is {} bytes; blocks are at most {MAX_BLOCK_SIZE}",
                location.len
            );
        }
        Ok((cid, location))
    }

    /// The file's name as given, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The one root CID.
    pub fn root(&self) -> &Cid {
        &self.root
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Every block's CID and location, in file order.
    pub fn sections(&self) -> impl Iterator<Item = (&Cid, &Location)> {
        self.order.iter().map(|cid| (cid, &self.blocks[cid]))
    }

    /// Where `cid` sits, if the file holds it.
    pub fn location(&self, cid: &Cid) -> Option<&Location> {
        self.blocks.get(cid)
    }

    /// The bytes of block `cid`, verified against its hash.
    pub fn block(&self, cid: &Cid) -> Result<Vec<u8>> {
        let len = self.blocks.get(cid).map_or(0, |location| location.len);
        let mut data = vec![0; len as usize];
        self.read_block(cid, &mut data)?;
        Ok(data)
    }

    /// Reads block `cid` into `buf`, which must be exactly as long as the block, and verifies it
    /// against its hash.
    pub fn read_block(&self, cid: &Cid, buf: &mut [u8]) -> Result<()> {
        let Some(location) = self.blocks.get(cid) else {
            bail!("{}: block {cid} is missing", self.name);
        };
        if buf.len() as u64 != location.len {
            bail!(
                "{}: block {cid} is {} bytes; its link says {}",
                self.name,
                location.len,
                buf.len()
            );
        }
        self.source
            .read_at(location.offset, buf)
            .with_context(|| format!("{}: reading block {cid}", self.name))?;
        if !hash_matches(cid, buf) {
            bail!(
                "{}: byte {}: block {cid} is corrupt (its sha2-256 does not match its CID)",
                self.name,
                location.section
            );
        }
        Ok(())
    }
}
