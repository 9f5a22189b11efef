//! The CARv2 block index, in the MultihashIndexSorted form (multicodec 0x0401) that go-car
//! writes: for every block, the digest of its CID's sha2-256 multihash and the offset of its
//! section in the CARv1 payload, sorted by digest. A reader finds a block with a binary search
//! instead of walking every section of the file.
//!
//! Layout (integers little-endian): varint 0x0401, i32 count of hash functions (1), then for
//! sha2-256: u64 code 0x12, i32 count of widths (1), u32 width 40, i64 bytes of entries, and the
//! entries, each a 32-byte digest then a u64 offset.

use anyhow::{bail, ensure, Result};

use crate::cids::SHA2_256;

/// Multicodec of the MultihashIndexSorted CARv2 index.
const MULTIHASH_INDEX_SORTED: u64 = 0x0401;
/// Bytes of a sha2-256 digest.
const DIGEST_LEN: usize = 32;
/// Bytes of one entry: a digest and an offset.
const WIDTH: usize = DIGEST_LEN + 8;
/// Bytes before the entries.
const PREAMBLE_LEN: usize = 2 + 4 + 8 + 4 + 4 + 8;

/// Encodes the index of blocks given as (sha2-256 digest, section offset in the CARv1 payload).
pub fn encode(mut entries: Vec<([u8; DIGEST_LEN], u64)>) -> Vec<u8> {
    entries.sort_unstable();
    let mut out = Vec::with_capacity(PREAMBLE_LEN + entries.len() * WIDTH);
    let mut varint = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(MULTIHASH_INDEX_SORTED, &mut varint));
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&SHA2_256.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&(WIDTH as u32).to_le_bytes());
    out.extend_from_slice(&((entries.len() * WIDTH) as i64).to_le_bytes());
    for (digest, offset) in entries {
        out.extend_from_slice(&digest);
        out.extend_from_slice(&offset.to_le_bytes());
    }
    out
}

/// A decoded index: its entries, sorted by digest, kept in the bytes they were read in (a
/// 1M-row archive's index is 5 MB; a copy cost more page faults than the checks).
#[derive(Debug)]
pub struct BlockIndex {
    bytes: Vec<u8>,
    start: usize,
}

impl BlockIndex {
    /// Decodes an index as [`encode`] writes it. Anything else (another index kind, other
    /// hashes, unsorted entries, trailing bytes) is refused, and the caller walks the file instead.
    pub fn decode(bytes: Vec<u8>) -> Result<BlockIndex> {
        let (codec, rest) = unsigned_varint::decode::u64(&bytes)?;
        ensure!(
            codec == MULTIHASH_INDEX_SORTED,
            "index kind 0x{codec:x} (vecar reads MultihashIndexSorted, 0x0401)"
        );
        ensure!(rest.len() >= PREAMBLE_LEN - 2, "index is truncated");
        let (head, entries) = rest.split_at(PREAMBLE_LEN - 2);
        let int = |at: usize, len: usize| {
            let mut word = [0u8; 8];
            word[..len].copy_from_slice(&head[at..at + len]);
            u64::from_le_bytes(word)
        };
        ensure!(int(0, 4) == 1, "index covers {} hash functions, expected 1", int(0, 4));
        ensure!(
            int(4, 8) == SHA2_256,
            "index hash is 0x{:x}, expected sha2-256",
            int(4, 8)
        );
        ensure!(int(12, 4) == 1, "index has {} digest widths, expected 1", int(12, 4));
        ensure!(
            int(16, 4) == WIDTH as u64,
            "index entries are {} bytes, expected {WIDTH}",
            int(16, 4)
        );
        if int(20, 8) != entries.len() as u64 || entries.len() % WIDTH != 0 {
            bail!(
                "index claims {} bytes of entries but holds {}",
                int(20, 8),
                entries.len()
            );
        }
        let start = bytes.len() - entries.len();
        let index = BlockIndex { bytes, start };
        let sorted = index
            .entries()
            .windows(2)
            .all(|w| w[0][..DIGEST_LEN] <= w[1][..DIGEST_LEN]);
        ensure!(sorted, "index entries are not sorted");
        Ok(index)
    }

    /// The entries, each a digest and a little-endian section offset.
    fn entries(&self) -> &[[u8; WIDTH]] {
        self.bytes[self.start..].as_chunks().0
    }

    /// Number of entries.
    pub fn count(&self) -> usize {
        self.entries().len()
    }

    /// Every entry's section offset, in digest order.
    pub fn all_offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries()
            .iter()
            .map(|e| u64::from_le_bytes(e[DIGEST_LEN..].try_into().expect("8 bytes")))
    }

    /// Section offsets recorded for `digest` (several if blocks of different codecs share it).
    pub fn offsets<'a>(&'a self, digest: &'a [u8]) -> impl Iterator<Item = u64> + 'a {
        let first = self.entries().partition_point(|e| &e[..DIGEST_LEN] < digest);
        self.entries()[first..]
            .iter()
            .take_while(move |e| &e[..DIGEST_LEN] == digest)
            .map(|e| u64::from_le_bytes(e[DIGEST_LEN..].try_into().expect("8 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_offset_and_refuses_damage() {
        let entries: Vec<([u8; 32], u64)> = (0..100u64).map(|i| ([(i * 37 % 100) as u8; 32], i)).collect();
        let mut bytes = encode(entries.clone());
        let index = BlockIndex::decode(bytes.clone()).unwrap();
        assert_eq!(index.count(), 100);
        for (digest, offset) in &entries {
            assert_eq!(index.offsets(digest).collect::<Vec<_>>(), vec![*offset]);
        }
        assert_eq!(index.offsets(&[200; 32]).count(), 0);
        bytes.pop();
        assert!(BlockIndex::decode(bytes).is_err());
        let mut swapped = encode(entries);
        swapped[PREAMBLE_LEN] = 0xff;
        assert!(BlockIndex::decode(swapped)
            .unwrap_err()
            .to_string()
            .contains("not sorted"));
    }
}
