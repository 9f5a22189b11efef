//! The DAG-CBOR decoders on arbitrary bytes: the manifest (and its checks), a link node and a
//! records chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vecar::archive::block::decode_dag_cbor;
use vecar::archive::manifest::Manifest;
use vecar::archive::records;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::decode(data) {
        let _ = manifest.check(1 << 30);
    }
    let _ = decode_dag_cbor::<Vec<(cid::Cid, u64)>>(data);
    let _ = records::decode(data, 3);
});
