//! The CAR reader on arbitrary bytes: header, section headers, and every block's verified read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vecar::archive::car::CarFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(car) = CarFile::from_bytes("fuzz.car", data.to_vec()) {
        let cids: Vec<_> = car.sections().map(|(cid, _)| *cid).collect();
        for cid in cids {
            let _ = car.block(&cid);
        }
        let _ = car.block(car.root());
    }
});
