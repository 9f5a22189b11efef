//! Record chunks: DAG-CBOR arrays of records, each the input object less its vector.

use anyhow::{bail, Result};
use serde_json::{Map, Value};

use super::block::{decode_dag_cbor, MAX_BLOCK_SIZE};

/// A record: the input line's fields, less the vector.
pub type Record = Map<String, Value>;

/// The largest encoded record: a chunk of one record must fit a block.
pub const MAX_RECORD_SIZE: usize = MAX_BLOCK_SIZE - 9;

/// An id as typed on a command line: a string id as it is, an integer id in decimal.
pub fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Encodes one record as canonical DAG-CBOR.
pub fn encode(record: &Record) -> Result<Vec<u8>> {
    let bytes = serde_ipld_dagcbor::to_vec(record)?;
    if bytes.len() > MAX_RECORD_SIZE {
        bail!(
            "record is {} bytes encoded; a record must stay under 1 MiB",
            bytes.len()
        );
    }
    Ok(bytes)
}

/// The start of a records chunk of `n` records, which follow it encoded one after another: the
/// DAG-CBOR header of an array of `n` items (major type 4, shortest length form).
pub fn packed_header(n: u64) -> Vec<u8> {
    match n {
        0..=23 => vec![0x80 | n as u8],
        24..=0xff => vec![0x98, n as u8],
        0x100..=0xffff => [&[0x99][..], &(n as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0x9a][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[0x9b][..], &n.to_be_bytes()].concat(),
    }
}

/// Decodes a records chunk holding `rows` records.
pub fn decode(bytes: &[u8], rows: u64) -> Result<Vec<Record>> {
    let records: Vec<Record> = decode_dag_cbor(bytes)?;
    if records.len() as u64 != rows {
        bail!("holds {} records; its link says {rows}", records.len());
    }
    Ok(records)
}
