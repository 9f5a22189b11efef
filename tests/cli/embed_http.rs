//! `build` and `query --text` through an OpenAI-compatible endpoint played by a fake server,
//! with the API key sent but never shown. (The HTTP provider itself is tested beside it, in
//! src/embed/http/against_server.rs.)

use serde_json::{json, Value};

use crate::fake_server::{serve, Response};

const KEY: &str = "sk-test-5ecret-key";

#[test]
fn cli_builds_and_queries_through_an_endpoint_without_showing_the_key() {
    // Vectors that tell texts apart: `dims` numbers from an xorshift seeded by the text's bytes.
    let server = serve(|request| {
        let data: Vec<Value> = request
            .texts()
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut state = text.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
                });
                let v: Vec<f32> = (0..6)
                    .map(|_| (crate::common::xorshift(&mut state) % 1000) as f32 - 500.0)
                    .collect();
                json!({"index": i, "embedding": v})
            })
            .collect();
        Response::json(200, &json!({"data": data}))
    });
    let dir = crate::common::tempdir();
    let input = dir.path().join("notes.jsonl");
    let notes: Vec<String> = (0..70)
        .map(|i| json!({"id": i, "text": format!("note {i}")}).to_string())
        .collect();
    std::fs::write(&input, notes.join("\n")).unwrap();
    let car = dir.path().join("notes.car");
    let (url, s) = (server.url(), crate::common::s);
    let env = [("VECAR_API_KEY", KEY)];
    let build = ["build", s(&input), "-o", s(&car), "--endpoint", &url, "--model", "m1"];
    crate::common::vecar_with_env(&build, b"", &env).ok();
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some(&*format!("Bearer {KEY}"))));
    let info = &crate::common::vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
    assert_eq!(
        info["embedding"],
        json!({"provider": "http", "model": "m1", "dimensions": 6})
    );

    // The recorded model name is asked for; its vectors find the record with the same text.
    let query = ["query", s(&car), "-k", "1", "--text", "note 42", "--endpoint", &url];
    let hits = crate::common::vecar_with_env(&query, b"", &env).ok().json_lines();
    assert_eq!(hits[0]["id"], 42);
    assert_eq!(server.requests().last().unwrap().json()["model"], "m1");
    let other = ["query", s(&car), "--text", "x", "--endpoint", &url, "--model", "m2"];
    crate::common::vecar(&other).fails_with("was embedded with model \"m1\", not \"m2\"");

    let refusing = serve(|r| {
        Response::json(
            401,
            &json!({"error": {"message": format!("bad key {}", r.header("authorization").unwrap_or_default())}}),
        )
    });
    let url = refusing.url();
    let query = ["query", s(&car), "--text", "note 42", "--endpoint", &url];
    let failed = crate::common::vecar_with_env(&query, b"", &env);
    failed.fails_with("HTTP 401");
    assert!(!failed.stderr.contains(KEY), "{}", failed.stderr);
}
