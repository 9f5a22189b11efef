//! libFuzzer's entry to the `open_and_query` target, whose body is fuzz/targets/open_and_query.rs (which
//! `cargo test` compiles and runs on the seeds too: tests/fuzz.rs).
#![no_main]

#[path = "../targets/open_and_query.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
