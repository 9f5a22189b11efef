//! libFuzzer's entry to the `manifest` target, whose body is fuzz/targets/manifest.rs (which
//! `cargo test` compiles and runs on the seeds too: tests/fuzz.rs).
#![no_main]

#[path = "../targets/manifest.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
