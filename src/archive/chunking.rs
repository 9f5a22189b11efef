//! Where record and vector chunks end. Boundaries are chosen by the rows' ids, not by position,
//! so inserting, replacing or removing a row changes only the chunk around it: every other chunk
//! keeps its bytes and its CID.

use std::ops::Range;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::block::MAX_BLOCK_SIZE;

/// On average one id in this many ends a chunk, so chunks hold 16 rows on average.
pub const AVERAGE_ROWS: u64 = 16;
/// Bytes a records chunk needs besides its records (the longest DAG-CBOR array header).
const ARRAY_HEADER: usize = 9;

/// Whether the row with this id ends a chunk: the first eight bytes of the sha2-256 of the id's
/// DAG-CBOR encoding, read as a little-endian integer, are a multiple of [`AVERAGE_ROWS`].
pub fn ends_chunk(id: &Value) -> bool {
    let encoded = serde_ipld_dagcbor::to_vec(id).expect("a JSON value encodes as DAG-CBOR");
    let digest = Sha256::digest(encoded);
    let head = u64::from_le_bytes(digest[..8].try_into().expect("a digest has 8 bytes"));
    head % AVERAGE_ROWS == 0
}

/// Splits rows into chunks, shared by records and vectors: a chunk ends after a row whose id
/// ends a chunk, or earlier where one more row would take the records chunk or the vectors chunk
/// (`dimensions` float32 values a row) past the block size limit. `ends[i]` and `record_sizes[i]`
/// describe row `i`.
pub fn chunk_rows(ends: &[bool], record_sizes: &[usize], dimensions: usize) -> Vec<Range<usize>> {
    let max_rows = (MAX_BLOCK_SIZE / (dimensions.max(1) * 4)).max(1);
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, ARRAY_HEADER);
    for (row, (&end, &size)) in ends.iter().zip(record_sizes).enumerate() {
        if row > start && (row - start == max_rows || bytes + size > MAX_BLOCK_SIZE) {
            chunks.push(start..row);
            (start, bytes) = (row, ARRAY_HEADER);
        }
        bytes += size;
        if end {
            chunks.push(start..row + 1);
            (start, bytes) = (row + 1, ARRAY_HEADER);
        }
    }
    if start < ends.len() {
        chunks.push(start..ends.len());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_follow_ids_and_block_limits() {
        let ends = [false, true, false, false, true, false];
        assert_eq!(chunk_rows(&ends, &[10; 6], 4), vec![0..2, 2..5, 5..6]);
        // 200,000 dimensions: a row takes 800 KB, so one row fills a vectors block.
        assert_eq!(
            chunk_rows(&ends, &[10; 6], 200_000),
            vec![0..1, 1..2, 2..3, 3..4, 4..5, 5..6]
        );
        // Records of 600 KB: two never share a block.
        assert_eq!(chunk_rows(&ends[..3], &[600_000; 3], 4), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn about_one_id_in_sixteen_ends_a_chunk() {
        let n = (0..16_000)
            .filter(|i| ends_chunk(&Value::from(format!("doc-{i}"))))
            .count();
        assert!((800..1200).contains(&n), "{n} of 16,000 ids end a chunk");
    }
}
