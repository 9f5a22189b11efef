//! CIDs as vecar makes them: CIDv1 with a sha2-256 multihash, for archive blocks and for a local
//! model's weights alike.

use cid::multihash::Multihash;
use cid::Cid;
use sha2::{Digest, Sha256};

/// Multicodec code of opaque bytes.
pub const RAW: u64 = 0x55;
/// Multicodec code of DAG-CBOR structure.
pub const DAG_CBOR: u64 = 0x71;
/// Multihash code of sha2-256, the only hash vecar uses.
pub const SHA2_256: u64 = 0x12;

/// The CIDv1 (sha2-256) of `data` under `codec`.
pub fn cid_for(codec: u64, data: &[u8]) -> Cid {
    let digest = Sha256::digest(data);
    let hash = Multihash::wrap(SHA2_256, &digest).expect("a 32-byte digest fits a 64-byte multihash");
    Cid::new_v1(codec, hash)
}
