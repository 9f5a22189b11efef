//! Vector chunks: rows of little-endian float32 values, a fixed number of rows per chunk.

use anyhow::{bail, Result};

/// Encodes rows of float32 values as little-endian bytes.
pub fn encode(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// How many bytes a chunk of `rows` rows of `dimensions` values is.
pub fn chunk_len(rows: u64, dimensions: u64) -> u64 {
    rows.saturating_mul(dimensions).saturating_mul(4)
}

/// Checks that a chunk is as long as `rows` rows of `dimensions` values.
pub fn check_size(bytes: &[u8], rows: u64, dimensions: u64) -> Result<()> {
    let len = chunk_len(rows, dimensions);
    if bytes.len() as u64 != len {
        bail!(
            "is {} bytes; {rows} rows of {dimensions} float32 values take {len}",
            bytes.len()
        );
    }
    Ok(())
}

/// Decodes a chunk that must hold `rows` rows of `dimensions` finite values.
pub fn decode(bytes: &[u8], rows: u64, dimensions: u64) -> Result<Vec<f32>> {
    check_size(bytes, rows, dimensions)?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        bail!(
            "holds a value that is not a finite number at row {}",
            i as u64 / dimensions
        );
    }
    Ok(values)
}
