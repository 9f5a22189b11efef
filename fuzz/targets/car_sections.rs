//! The CAR reader on arbitrary bytes: header, CARv2 index, section headers, and every block's
//! verified read (through the index first, then after the walk).

use vecar::archive::car::CarFile;

/// Feeds `data` to what this target fuzzes; panics only on a bug.
pub fn run(data: &[u8]) {
    if let Ok(car) = CarFile::from_bytes("fuzz.car", data.to_vec()) {
        let _ = car.block(car.root());
        let _ = car.check_carv2();
        let Ok(sections) = car.sections() else { return };
        let cids: Vec<_> = sections.map(|(cid, _)| *cid).collect();
        for cid in cids {
            let _ = car.block(&cid);
        }
    }
}
