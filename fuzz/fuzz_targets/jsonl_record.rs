//! libFuzzer's entry to the `jsonl_record` target, whose body is fuzz/targets/jsonl_record.rs (which
//! `cargo test` compiles and runs on the seeds too: tests/fuzz.rs).
#![no_main]

#[path = "../targets/jsonl_record.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
