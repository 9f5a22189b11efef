//! The DAG-CBOR decoders on arbitrary bytes: the manifest (and its checks), a link node and a
//! records chunk.

use vecar::archive::block::decode_dag_cbor;
use vecar::archive::manifest::Manifest;
use vecar::archive::records;

/// Feeds `data` to what this target fuzzes; panics only on a bug.
pub fn run(data: &[u8]) {
    if let Ok(manifest) = Manifest::decode(data) {
        let _ = manifest.check(1 << 30);
    }
    let _ = decode_dag_cbor::<Vec<(cid::Cid, u64)>>(data);
    let _ = records::decode(data, 3);
}
