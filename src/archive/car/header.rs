//! The CAR headers: the CARv2 pragma and fixed header, the CARv1 header (DAG-CBOR, one root), and
//! the varints that frame them and every section.

use std::io::Write;

use anyhow::{bail, Result};
use cid::Cid;
use serde::{Deserialize, Serialize};

use crate::archive::block::MAX_BLOCK_SIZE;

/// Bytes that start every CARv2 file.
pub(super) const CARV2_PRAGMA: [u8; 11] = [0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02];
/// Size of the CARv2 header that follows the pragma.
pub(super) const CARV2_HEADER_LEN: u64 = 40;
/// Where the CARv1 payload starts in a CARv2 that vecar writes: right after its header.
pub(super) const CARV2_DATA_OFFSET: u64 = CARV2_PRAGMA.len() as u64 + CARV2_HEADER_LEN;
/// The largest CARv1 header accepted (one root needs about 50 bytes).
pub(super) const MAX_HEADER_LEN: u64 = 64 * 1024;
/// The largest section accepted: a full block plus a CID.
pub(super) const MAX_SECTION_LEN: u64 = MAX_BLOCK_SIZE as u64 + 128;
/// Bytes read to decode a section's length and CID.
pub(super) const SECTION_HEAD_WINDOW: usize = 9 + 128;

/// The CARv1 header as written.
#[derive(Serialize)]
struct HeaderOut<'a> {
    roots: [&'a Cid; 1],
    version: u64,
}

/// The CARv1 header as read (a CARv2 pragma reads as version 2 without roots).
#[derive(Deserialize)]
pub(super) struct HeaderIn {
    pub(super) version: u64,
    #[serde(default)]
    pub(super) roots: Option<Vec<Cid>>,
}

/// The CARv1 header naming `root`, with its length varint.
pub(super) fn v1_header(root: &Cid) -> Result<Vec<u8>> {
    let header = serde_ipld_dagcbor::to_vec(&HeaderOut {
        roots: [root],
        version: 1,
    })?;
    let mut out = Vec::with_capacity(header.len() + 2);
    write_varint(&mut out, header.len() as u64)?;
    out.extend_from_slice(&header);
    Ok(out)
}

/// Bytes of the section holding a block of `len` bytes named `cid`.
pub(super) fn section_len(cid: &Cid, len: u64) -> u64 {
    let body = cid.encoded_len() as u64 + len;
    let mut varint = unsigned_varint::encode::u64_buffer();
    unsigned_varint::encode::u64(body, &mut varint).len() as u64 + body
}

/// Writes `n` as an unsigned varint.
pub(super) fn write_varint(out: &mut impl Write, n: u64) -> std::io::Result<()> {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.write_all(unsigned_varint::encode::u64(n, &mut buf))
}

/// Decodes the varint at the start of `bytes` (read from byte `pos` of `name`): its value and
/// its length. Fewer than 10 bytes means the file ends there.
pub(super) fn decode_varint(bytes: &[u8], pos: u64, name: &str, what: &str) -> Result<(u64, u64)> {
    match unsigned_varint::decode::u64(&bytes[..bytes.len().min(10)]) {
        Ok((value, rest)) => Ok((value, (bytes.len().min(10) - rest.len()) as u64)),
        Err(unsigned_varint::decode::Error::Insufficient) if bytes.len() < 10 => {
            bail!("{name}: byte {pos}: file is truncated inside the {what}")
        }
        Err(e) => bail!("{name}: byte {pos}: invalid {what}: {e}"),
    }
}
