//! Opening an archive and querying it, on arbitrary bytes: manifest, link trees, index load and
//! search, exact search, and reading the hits' records.

use std::collections::BTreeSet;

use vecar::archive::car::CarFile;
use vecar::archive::read::Archive;
use vecar::index::search::{Allowed, SearchOptions, Searcher};

/// Feeds `data` to what this target fuzzes; panics only on a bug.
pub fn run(data: &[u8]) {
    let Ok(car) = CarFile::from_bytes("fuzz.car", data.to_vec()) else {
        return;
    };
    let Ok(archive) = Archive::from_car(std::sync::Arc::new(car)) else {
        return;
    };
    let query = vec![0.5f32; archive.manifest.dimensions as usize];
    let Ok(allowed) = Allowed::compute(&archive, None, None) else {
        return;
    };
    for exact in [false, true] {
        let options = SearchOptions {
            exact,
            ef: None,
            nprobe: None,
            rescore: 2,
        };
        let Ok(searcher) = Searcher::open(&archive, options, 1) else {
            continue;
        };
        if let Ok(results) = searcher.search(&[&query], 3, &allowed) {
            let rows: BTreeSet<u64> = results.iter().flatten().map(|hit| hit.row).collect();
            let _ = archive.records_of(&rows);
        }
    }
}
