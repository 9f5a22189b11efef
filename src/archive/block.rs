//! IPLD blocks: bytes named by a CIDv1 whose multihash is the sha2-256 of the bytes.

use anyhow::{bail, Context, Result};
use cid::Cid;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::cids::{cid_for, DAG_CBOR, RAW, SHA2_256};
/// The largest block vecar writes or accepts (1 MiB), so that every IPFS node takes it.
pub const MAX_BLOCK_SIZE: usize = 1 << 20;

/// A block: its bytes and the CID that names them.
pub struct Block {
    /// The CID: codec plus the sha2-256 of `data`.
    pub cid: Cid,
    /// The block's bytes.
    pub data: Vec<u8>,
}

impl Block {
    /// A `dag-cbor` block holding the canonical DAG-CBOR encoding of `value`.
    pub fn dag_cbor<T: Serialize>(value: &T) -> Result<Block> {
        let data = serde_ipld_dagcbor::to_vec(value).context("encoding DAG-CBOR")?;
        Ok(Block::new(DAG_CBOR, data))
    }

    /// A block of the given codec, hashed now.
    pub fn new(codec: u64, data: Vec<u8>) -> Block {
        let cid = cid_for(codec, &data);
        Block { cid, data }
    }
}

/// Deepest nesting of arrays, maps and tags accepted in DAG-CBOR (JSON input nests at most 128).
pub const MAX_NESTING: usize = 160;

/// Decodes DAG-CBOR from untrusted bytes: the nesting depth is checked first, without recursion,
/// so a hostile block cannot exhaust the stack of the recursive decoder.
pub fn decode_dag_cbor<T: DeserializeOwned>(data: &[u8]) -> Result<T> {
    decode_dag_cbor_with(data, std::marker::PhantomData::<T>)
}

/// Decodes DAG-CBOR from untrusted bytes, as [`decode_dag_cbor`] does, through `seed`.
pub fn decode_dag_cbor_with<'de, S: DeserializeSeed<'de>>(data: &'de [u8], seed: S) -> Result<S::Value> {
    check_nesting(data)?;
    let invalid = |e| anyhow::anyhow!("invalid DAG-CBOR: {e}");
    let mut decoder = serde_ipld_dagcbor::de::Deserializer::from_slice(data);
    let value = seed.deserialize(&mut decoder).map_err(invalid)?;
    decoder.end().map_err(invalid)?;
    Ok(value)
}

/// Walks the CBOR item heads iteratively and fails past [`MAX_NESTING`] levels, on indefinite
/// lengths (not DAG-CBOR), or on an item running past the end.
fn check_nesting(data: &[u8]) -> Result<()> {
    let mut pending: Vec<u64> = vec![1];
    let mut pos = 0usize;
    while let Some(top) = pending.last_mut() {
        if *top == 0 {
            pending.pop();
            continue;
        }
        *top -= 1;
        let (major, value) = read_head(data, &mut pos)?;
        let children = match major {
            2 | 3 => {
                pos = usize::try_from(value)
                    .ok()
                    .and_then(|n| pos.checked_add(n))
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| anyhow::anyhow!("invalid DAG-CBOR: a string runs past the end"))?;
                0
            }
            4 => value,
            5 => value.saturating_mul(2),
            6 => 1,
            _ => 0,
        };
        if children > 0 {
            pending.push(children);
            if pending.len() > MAX_NESTING + 1 {
                bail!("invalid DAG-CBOR: nested deeper than {MAX_NESTING} levels");
            }
        }
    }
    Ok(())
}

/// Reads one CBOR item head at `pos`: its major type and argument.
pub(super) fn read_head(data: &[u8], pos: &mut usize) -> Result<(u8, u64)> {
    let truncated = || anyhow::anyhow!("invalid DAG-CBOR: truncated");
    let first = *data.get(*pos).ok_or_else(truncated)?;
    *pos += 1;
    let size = match first & 0x1f {
        n @ 0..=23 => return Ok((first >> 5, n as u64)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => bail!("invalid DAG-CBOR: indefinite or reserved length at byte {}", *pos - 1),
    };
    let bytes = data.get(*pos..*pos + size).ok_or_else(truncated)?;
    *pos += size;
    Ok((first >> 5, bytes.iter().fold(0u64, |acc, &b| acc << 8 | b as u64)))
}

/// Checks that a CID is of the kind vecar writes: CIDv1, sha2-256, `raw` or `dag-cbor`.
pub fn check_cid_kind(cid: &Cid) -> Result<()> {
    if cid.version() != cid::Version::V1 {
        bail!("CID {cid} is CIDv0; vecar archives use CIDv1 only");
    }
    if cid.codec() != RAW && cid.codec() != DAG_CBOR {
        bail!(
            "CID {cid} has codec 0x{:x}; expected raw (0x55) or dag-cbor (0x71)",
            cid.codec()
        );
    }
    let hash = cid.hash();
    if hash.code() != SHA2_256 || hash.size() != 32 {
        bail!(
            "CID {cid} uses hash function 0x{:x} ({} bytes); expected sha2-256",
            hash.code(),
            hash.size()
        );
    }
    Ok(())
}

/// True when `data` hashes to the digest in `cid` (which must be sha2-256).
pub fn hash_matches(cid: &Cid, data: &[u8]) -> bool {
    cid.hash().digest() == Sha256::digest(data).as_slice()
}

/// Codec name for display.
pub fn codec_name(codec: u64) -> &'static str {
    match codec {
        RAW => "raw",
        DAG_CBOR => "dag-cbor",
        0x70 => "dag-pb",
        0x0129 => "dag-json",
        _ => "unknown",
    }
}
