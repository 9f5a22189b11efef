//! The fuzz targets' bodies (fuzz/targets/), compiled by every `cargo test` so that a change to
//! the library cannot break them unseen, and run on their committed seeds
//! (fuzz/corpus/TARGET/seed-*). The fuzz crate itself (fuzz/, the libFuzzer entries around these
//! bodies) needs libFuzzer and is built only by `cargo fuzz`: see fuzz/README.md.

use std::path::Path;

#[path = "../fuzz/targets/car_sections.rs"]
mod car_sections;
#[path = "../fuzz/targets/jsonl_record.rs"]
mod jsonl_record;
#[path = "../fuzz/targets/manifest.rs"]
mod manifest;
#[path = "../fuzz/targets/open_and_query.rs"]
mod open_and_query;

#[test]
fn every_fuzz_target_takes_its_seeds() {
    let targets: [(&str, fn(&[u8])); 4] = [
        ("car_sections", car_sections::run),
        ("jsonl_record", jsonl_record::run),
        ("manifest", manifest::run),
        ("open_and_query", open_and_query::run),
    ];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, run) in targets {
        let mut seeds = 0;
        for entry in std::fs::read_dir(corpus.join(name)).expect("the target's corpus folder") {
            let path = entry.expect("a directory entry").path();
            if path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("seed-"))
            {
                run(&std::fs::read(&path).expect("a readable seed"));
                seeds += 1;
            }
        }
        assert!(seeds > 0, "{name}: no seed in {}", corpus.join(name).display());
    }
}
