//! Reading a CARv1 as it arrives over the network: each section is bounded before it is read and
//! each block checked against its CID before it goes anywhere.

use std::collections::HashSet;
use std::io::{BufReader, ErrorKind, Read};

use anyhow::{bail, Context, Result};
use cid::Cid;
use serde::Deserialize;

use crate::archive::block::{check_cid_kind, decode_dag_cbor, hash_matches, MAX_BLOCK_SIZE};
use crate::archive::car::CarWriter;
use crate::http::one_line;

/// The largest CAR header read (one root needs about 50 bytes).
const MAX_HEADER_LEN: u64 = 64 * 1024;
/// The largest section read: a full block plus a CID.
const MAX_SECTION_LEN: u64 = MAX_BLOCK_SIZE as u64 + 128;
/// The most of a text that breaks off a CAR read to show it.
const TEXT_SHOWN: u64 = 300;

#[derive(Deserialize)]
struct Header {
    version: u64,
    #[serde(default)]
    roots: Vec<Cid>,
}

/// Reads the CARv1 `input` (from `name`), whose header must name `root`, and writes each block
/// whose hash matches its CID to `out`, a CARv1 naming `root`; a block seen twice is written
/// once. Returns every block written (CID and length) in order. Fails at the first block that
/// does not match its CID, or a section cut short.
pub fn copy_verified<W: std::io::Write>(
    name: &str,
    root: &Cid,
    input: impl Read,
    out: &mut CarWriter<W>,
) -> Result<Vec<(Cid, u64)>> {
    let mut input = Counted {
        inner: BufReader::with_capacity(1 << 16, input),
        read: 0,
    };
    check_header(&mut input, name, root)?;
    let mut seen = HashSet::new();
    let mut blocks = Vec::new();
    loop {
        let pos = input.read;
        let Some(len) = read_varint(&mut input, name, "section length")? else {
            return Ok(blocks);
        };
        if len > MAX_SECTION_LEN {
            bail!("{name}: byte {pos}: section claims {len} bytes; blocks are at most {MAX_BLOCK_SIZE}");
        }
        let mut section = read_exact(&mut input, len, name, "section")?;
        let mut cursor = &section[..];
        let cid = match Cid::read_bytes(&mut cursor) {
            Ok(cid) => cid,
            Err(e) => {
                // A gateway that fails mid-stream may append a message (Kubo: "[Gateway Error:
                // ...]"): show it rather than the CID error it causes.
                let _ = (&mut input).take(TEXT_SHOWN).read_to_end(&mut section);
                let text = std::str::from_utf8(&section).ok().filter(|t| !t.trim().is_empty());
                match text {
                    Some(text) => bail!(
                        "{name}: byte {pos}: the CAR breaks off with the text {:?}",
                        one_line(text)
                    ),
                    None => bail!("{name}: byte {pos}: invalid CID: {e}"),
                }
            }
        };
        check_cid_kind(&cid).with_context(|| format!("{name}: byte {pos}"))?;
        if !hash_matches(&cid, cursor) {
            bail!("{name}: byte {pos}: block {cid} is corrupt (its sha2-256 does not match its CID)");
        }
        if seen.insert(cid) {
            out.write(&cid, cursor)?;
            blocks.push((cid, cursor.len() as u64));
        }
    }
}

/// Reads the CARv1 header at the start of `input` (from `name`), which must name `root`.
fn check_header<R: Read>(input: &mut Counted<R>, name: &str, root: &Cid) -> Result<()> {
    let Some(len) = read_varint(input, name, "CAR header length")? else {
        bail!("{name}: the answer is empty, not a CAR");
    };
    if len == 0 || len > MAX_HEADER_LEN {
        bail!("{name}: the CAR header claims {len} bytes; not a CAR vecar reads");
    }
    let header: Header =
        decode_dag_cbor(&read_exact(input, len, name, "CAR header")?).with_context(|| format!("{name}: CAR header"))?;
    if header.version != 1 {
        bail!(
            "{name}: CAR version {} where a CARv1 stream was expected",
            header.version
        );
    }
    if !header.roots.contains(root) {
        bail!("{name}: the CAR's roots {:?} do not include {root}", header.roots);
    }
    Ok(())
}

/// A reader that counts the bytes read, for messages.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The next varint, or `None` at a clean end of the stream (before its first byte).
fn read_varint<R: Read>(input: &mut Counted<R>, name: &str, what: &str) -> Result<Option<u64>> {
    let pos = input.read;
    let mut bytes = Vec::with_capacity(10);
    loop {
        let mut byte = [0u8];
        match input.read(&mut byte) {
            Ok(0) if bytes.is_empty() => return Ok(None),
            Ok(0) => bail!("{name}: byte {pos}: the stream ends inside the {what}"),
            Ok(_) => bytes.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("{name}: byte {pos}: reading the {what}")),
        }
        if byte[0] < 0x80 || bytes.len() == 10 {
            let (value, _) = unsigned_varint::decode::u64(&bytes)
                .map_err(|e| anyhow::anyhow!("{name}: byte {pos}: invalid {what}: {e}"))?;
            return Ok(Some(value));
        }
    }
}

/// The next `len` bytes (`len` already bounded by the caller); an error if the stream ends first.
fn read_exact<R: Read>(input: &mut Counted<R>, len: u64, name: &str, what: &str) -> Result<Vec<u8>> {
    let pos = input.read;
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => anyhow::anyhow!("{name}: byte {pos}: the stream ends inside a {len}-byte {what}"),
        _ => anyhow::Error::from(e).context(format!("{name}: byte {pos}: reading a {what}")),
    })?;
    Ok(bytes)
}
