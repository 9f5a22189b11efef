//! The JSONL document and query parsers on arbitrary lines; every document that parses must
//! survive the DAG-CBOR round trip unchanged.

use vecar::archive::records;
use vecar::input::{parse_doc, parse_query};

/// Feeds `data` to what this target fuzzes; panics only on a bug.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines() {
        let _ = parse_query(line, "id", "vector");
        let Ok(doc) = parse_doc(line, "id", "vector") else {
            continue;
        };
        assert!(doc.vector.iter().all(|v| v.is_finite()));
        let Ok(encoded) = records::encode(&doc.record) else {
            continue;
        };
        let chunk = [records::packed_header(1), encoded].concat();
        let back = records::decode(&chunk, 1).expect("an encoded record decodes");
        assert_eq!(back[0], doc.record);
        let picked = records::decode_some(&chunk, 1, &[0]).expect("an encoded record decodes");
        assert_eq!(picked, back);
    }
}
