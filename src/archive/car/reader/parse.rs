//! Parsing a CAR file's structure for [`CarFile`]: the CARv1 header, a CARv2 wrapper and its
//! block index, and the section heads (each block's length and CID), read and checked against
//! the file's size before anything is allocated by them.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use cid::Cid;

use super::{CarFile, CarV2, Location, Walk};
use crate::archive::block::{check_cid_kind, codec_name, decode_dag_cbor, MAX_BLOCK_SIZE};
use crate::archive::car::header::{
    decode_varint, HeaderIn, CARV2_DATA_OFFSET, CARV2_HEADER_LEN, CARV2_PRAGMA, MAX_HEADER_LEN, MAX_SECTION_LEN,
    SECTION_HEAD_WINDOW,
};
use crate::archive::car_index::BlockIndex;

impl CarFile {
    /// `e`, or, when the file starts with two characters of text (`{"` of JSON, say), that it is
    /// no CAR file at all: a CAR's length varint is followed by a DAG-CBOR map (0xa0..=0xbf) or,
    /// in a CARv2 pragma, by 0xa1.
    pub(super) fn not_a_car(&self, e: anyhow::Error) -> anyhow::Error {
        let mut first = [0u8; 2];
        if self.read_exact(0, &mut first[..self.file_len.min(2) as usize]).is_err() {
            return e;
        }
        let text = |b: u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
        let name = &self.name;
        match first {
            [0x1f, 0x8b] => anyhow::anyhow!(
                "{name}: not a CAR file (it is gzip-compressed; decompress it first, e.g. `zcat FILE | vecar verify -`)"
            ),
            [a, b] if a.is_ascii_graphic() && text(b) => {
                let json = matches!(a, b'{' | b'[');
                let hint = if json {
                    "; it looks like JSON: `vecar build` makes an archive of JSON lines"
                } else {
                    ""
                };
                anyhow::anyhow!("{name}: not a CAR file (it starts with '{}'){hint}", a as char)
            }
            _ => e,
        }
    }

    /// Walks every section head once; later calls return the same walk.
    pub(super) fn walk(&self) -> Result<&Walk> {
        if let Some(walk) = self.walked.get() {
            return Ok(walk);
        }
        if self.remote {
            bail!(
                "{}: this needs every block of the file, which vecar does not download from a URL; \
                 fetch the file and give its path",
                self.name
            );
        }
        let (mut pos, end) = self.sections;
        let mut walk = Walk {
            order: Vec::new(),
            blocks: HashMap::new(),
        };
        while pos < end {
            let (cid, location) = self.read_section_head(pos, end)?;
            if walk.blocks.insert(cid, location).is_some() {
                bail!("{}: byte {pos}: duplicate block {cid}", self.name);
            }
            walk.order.push(cid);
            pos = location.offset + location.len;
        }
        Ok(self.walked.get_or_init(|| walk))
    }

    /// Reads the CAR header at `start`; returns the offset of the first section and the end of
    /// the CARv1 payload. A CARv2 wrapper is followed to its inner CARv1 payload.
    pub(super) fn read_header(&mut self, start: u64, end: u64) -> Result<(u64, u64)> {
        let name = &self.name;
        let (len, varint_len) = self.read_varint(start, end, "CAR header length")?;
        if len == 0 || len > MAX_HEADER_LEN || start + varint_len + len > end {
            bail!("{name}: byte {start}: CAR header claims {len} bytes, which this file cannot hold");
        }
        let mut bytes = vec![0; len as usize];
        self.read_exact(start + varint_len, &mut bytes)?;
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
                if let Err(e) = check_cid_kind(&self.root) {
                    let root = &self.root;
                    match codec_name(root.codec()) {
                        "raw" | "dag-cbor" => bail!("{name}: not a vecar archive (root: {e})"),
                        "unknown" => bail!(
                            "{name}: not a vecar archive (root {root} has codec 0x{:x})",
                            root.codec()
                        ),
                        codec => bail!("{name}: not a vecar archive (root is a {codec} block, {root})"),
                    }
                }
                self.payload_start = start;
                Ok((start + varint_len + len, end))
            }
            (2, _) if start == 0 => self.read_v2_header(),
            (version, _) => {
                bail!("{name}: unsupported CAR version {version} (vecar reads CARv1 and CARv2)")
            }
        }
    }

    pub(super) fn read_v2_header(&mut self) -> Result<(u64, u64)> {
        let name = &self.name;
        let mut pragma = [0u8; CARV2_PRAGMA.len()];
        let mut header = [0u8; CARV2_HEADER_LEN as usize];
        if self.file_len < CARV2_DATA_OFFSET {
            bail!("{name}: CARv2 header is truncated");
        }
        self.read_exact(0, &mut pragma)?;
        self.read_exact(CARV2_PRAGMA.len() as u64, &mut header)?;
        if pragma != CARV2_PRAGMA {
            bail!("{name}: malformed CARv2 pragma");
        }
        let field = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
        let (offset, size, index_offset) = (field(16), field(24), field(32));
        let payload_end = offset
            .checked_add(size)
            .filter(|&e| offset >= CARV2_DATA_OFFSET && e <= self.file_len);
        let Some(payload_end) = payload_end else {
            bail!("{name}: CARv2 header points at bytes {offset}+{size}, outside the file");
        };
        self.carv2 = Some(CarV2 {
            characteristics: header[..16].try_into().expect("16 bytes"),
            index: (index_offset != 0).then(|| self.read_index(index_offset, (offset, payload_end))),
        });
        self.read_header(offset, payload_end)
    }

    /// Reads the CARv2 index at `offset`, which must follow the payload (`start..end`) and be no
    /// larger than an index of it can be (a section of at least 37 bytes per 40-byte entry).
    pub(super) fn read_index(&self, offset: u64, (start, end): (u64, u64)) -> Result<BlockIndex, String> {
        if offset < end || offset >= self.file_len {
            return Err(format!("its offset {offset} is outside the space after the blocks"));
        }
        if self.file_len - offset > 2 * (end - start) + 64 {
            return Err(format!(
                "it is {} bytes, more than an index of {} bytes of blocks needs",
                self.file_len - offset,
                end - start
            ));
        }
        let len = self.file_len - offset;
        let mut bytes = crate::memory::zeroed(len as usize).ok_or(format!("cannot reserve {len} bytes for it"))?;
        self.source.read_at(offset, &mut bytes).map_err(|e| e.to_string())?;
        BlockIndex::decode(bytes).map_err(|e| format!("{e:#}"))
    }

    /// Fills `buf` from byte `pos`. The file was measured on opening, so running out of bytes
    /// means it shrank since: that is said, with the file and the place.
    pub(super) fn read_exact(&self, pos: u64, buf: &mut [u8]) -> Result<()> {
        self.source.read_at(pos, buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => anyhow::anyhow!(
                "{}: byte {pos}: the file ends early (it shrank after vecar opened it)",
                self.name
            ),
            _ => anyhow::anyhow!("{}: byte {pos}: {e}", self.name),
        })
    }

    pub(super) fn read_varint(&self, pos: u64, end: u64, what: &str) -> Result<(u64, u64)> {
        let mut window = [0u8; 10];
        let n = window.len().min((end - pos) as usize);
        self.read_exact(pos, &mut window[..n])?;
        decode_varint(&window[..n], pos, &self.name, what)
    }

    /// Reads the section at `pos`: its length varint and its CID, in one read.
    pub(super) fn read_section_head(&self, pos: u64, end: u64) -> Result<(Cid, Location)> {
        let name = &self.name;
        let mut window = [0u8; 10 + SECTION_HEAD_WINDOW];
        let window = &mut window[..(end - pos).min((10 + SECTION_HEAD_WINDOW) as u64) as usize];
        self.read_exact(pos, window)?;
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
}
