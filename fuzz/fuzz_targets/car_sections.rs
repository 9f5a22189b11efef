//! libFuzzer's entry to the `car_sections` target, whose body is fuzz/targets/car_sections.rs (which
//! `cargo test` compiles and runs on the seeds too: tests/fuzz.rs).
#![no_main]

#[path = "../targets/car_sections.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
