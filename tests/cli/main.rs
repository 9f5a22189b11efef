//! Tests that run the real vecar binary on real files.

mod carv2;
mod commands;
mod common;
mod correctness_numbers;
mod determinism;
mod embed_cmd;
mod embed_http;
mod embed_local;
mod faiss;
mod fake_server;
mod fields;
mod front_door;
mod hostile;
mod input_errors;
mod interop;
mod kubo;
mod outputs;
mod push_pull;
mod query_power;
mod reach;
mod reading;
mod recall;
mod roundtrip;
mod signals;
mod stores;
mod update;
