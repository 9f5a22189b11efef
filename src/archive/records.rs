//! Record chunks: DAG-CBOR arrays of records, each the input object less its vector.

use anyhow::{bail, Result};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::block::{decode_dag_cbor_with, MAX_BLOCK_SIZE};
use crate::input::Record;

/// The largest encoded record: a chunk of one record must fit a block.
pub const MAX_RECORD_SIZE: usize = MAX_BLOCK_SIZE - 9;

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
    decode_picked(bytes, rows, Pick(None))
}

/// Decodes the records at `offsets` (ascending) of a records chunk holding `rows` records,
/// skipping the others without building them.
pub fn decode_some(bytes: &[u8], rows: u64, offsets: &[usize]) -> Result<Vec<Record>> {
    decode_picked(bytes, rows, Pick(Some(offsets)))
}

fn decode_picked(bytes: &[u8], rows: u64, pick: Pick) -> Result<Vec<Record>> {
    let wanted = pick.0.map(<[usize]>::len);
    let (records, count) = decode_dag_cbor_with(bytes, pick)?;
    if count != rows {
        bail!("holds {count} records; its link says {rows}");
    }
    if wanted.is_some_and(|wanted| wanted != records.len()) {
        bail!("holds {count} records, fewer than the rows asked for");
    }
    Ok(records)
}

/// Which records of a chunk to build: the ones at these offsets, or (`None`) all. Decoding
/// gives the records built and the number of records in the chunk.
struct Pick<'a>(Option<&'a [usize]>);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = (Vec<Record>, u64);

    fn deserialize<D: Deserializer<'de>>(self, decoder: D) -> Result<Self::Value, D::Error> {
        decoder.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = (Vec<Record>, u64);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(self.0.map_or(items.size_hint().unwrap_or(0).min(4096), <[usize]>::len));
        let mut wanted = self.0.map(|offsets| offsets.iter().peekable());
        let mut count = 0u64;
        loop {
            let build = match &mut wanted {
                None => true,
                Some(offsets) => offsets.next_if_eq(&&(count as usize)).is_some(),
            };
            if build {
                match items.next_element::<Record>()? {
                    Some(record) => records.push(record),
                    None => break,
                }
            } else if items.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            count += 1;
        }
        Ok((records, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_only_the_records_asked_for() {
        let records: Vec<Record> = (0..5)
            .map(|i| serde_json::from_value(serde_json::json!({"id": i, "deep": {"a": [i, "x"]}})).unwrap())
            .collect();
        let mut bytes = packed_header(5);
        records.iter().for_each(|r| bytes.extend(encode(r).unwrap()));
        assert_eq!(decode(&bytes, 5).unwrap(), records);
        assert_eq!(
            decode_some(&bytes, 5, &[1, 4]).unwrap(),
            vec![records[1].clone(), records[4].clone()]
        );
        assert_eq!(decode_some(&bytes, 5, &[]).unwrap(), vec![]);
        assert!(decode_some(&bytes, 4, &[1])
            .unwrap_err()
            .to_string()
            .contains("its link says 4"));
        assert!(decode_some(&bytes, 5, &[5])
            .unwrap_err()
            .to_string()
            .contains("fewer than"));
    }
}
