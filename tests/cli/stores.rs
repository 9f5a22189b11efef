//! The Qdrant and Elasticsearch bridges against in-test servers that follow the stores' REST
//! APIs strictly (tests/stores/: Qdrant's through qdrant-client's own models and local mode,
//! Elasticsearch's checked by hand), with faults injected: 500s, 429 storms, dropped connections.
//! They run Python from tests/py/.venv, made by tests/py/install.sh.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::common::*;

/// An in-test store server, killed at the end of the test.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `tests/stores/SCRIPT` with `args` on a free port.
    fn start(script: &str, args: &[&str]) -> Server {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("tests/py/.venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/py/install.sh",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(root.join("tests/stores").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the store server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} said {line:?}"))
            .parse()
            .unwrap();
        Server { child, port }
    }

    fn qdrant(args: &[&str]) -> Server {
        Server::start("qdrant_server.py", args)
    }

    fn elasticsearch(args: &[&str]) -> Server {
        Server::start("es_server.py", args)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends a JSON request straight to the server: its status and answer.
    fn call(&self, method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url()))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut answer = agent.run(request.body(bytes).unwrap()).unwrap();
        let text = answer.body_mut().read_to_string().unwrap();
        (
            answer.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// How many requests each fault route has received.
    fn requests(&self, route: &str) -> u64 {
        self.call("GET", "/_faults", None, &[]).1[route].as_u64().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` records with every kind of id (unsigned, negative and large integers, strings that look
/// like numbers or UUIDs, Unicode) and metadata (nested, lists, floats, booleans, null), and
/// 8-dimensional vectors whose float32 values use every bit, built into `dir/name` with `flags`.
fn varied(dir: &Path, name: &str, n: usize, flags: &[&str]) -> PathBuf {
    let mut state = 0x5eed_u64;
    let ids = [
        json!(0),
        json!(18446744073709551615u64),
        json!(-7),
        json!("doc-1"),
        json!("42x"),
        json!("550e8400-e29b-41d4-a716-446655440000"),
        json!("ünï cödé ✓"),
    ];
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let id = ids.get(i).cloned().unwrap_or_else(|| json!(format!("r{i}")));
            let vector: Vec<f32> = (0..8)
                .map(|_| (xorshift(&mut state) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect();
            let mut record = json!({
                "id": id, "vector": vector, "text": format!("text {i} \"quoted\"\n"),
                "n": i, "score": 0.1 * i as f64, "tags": ["a", format!("t{i}")],
                "meta": {"depth": {"x": i % 3}, "b": "ok"}, "flag": i % 2 == 0,
            });
            if i % 3 == 0 {
                record["maybe"] = Value::Null;
            }
            record.to_string()
        })
        .collect();
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join(name);
    let mut args = vec!["build", s(&input), "-o", s(&out), "-q"];
    args.extend_from_slice(flags);
    vecar(&args).ok();
    out
}

/// The archive's records by id text, vectors included, as `vecar export` writes them.
fn records(car: &Path) -> BTreeMap<String, Value> {
    vecar(&["export", s(car)])
        .ok()
        .json_lines()
        .into_iter()
        .map(|r| {
            let id = match &r["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (id, r)
        })
        .collect()
}

/// A record's vector as float32 values.
fn vector(record: &Value) -> Vec<f32> {
    record["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A record less its vector.
fn without_vector(record: &Value) -> Value {
    let mut record = record.clone();
    record.as_object_mut().unwrap().remove("vector");
    record
}

/// The archive's metric, from `vecar info --json`.
fn metric(car: &Path) -> String {
    let info: Value = serde_json::from_str(&vecar(&["info", s(car), "--json"]).ok().stdout).unwrap();
    info["metric"].as_str().unwrap().to_string()
}

fn export_to(car: &Path, to: &str, server: &Server, name: &str, extra: &[&str]) -> Run {
    let flag = if to == "qdrant" { "--collection" } else { "--index" };
    let url = server.url();
    let mut args = vec!["export", s(car), "--to", to, "--url", &url, flag, name];
    args.extend_from_slice(extra);
    vecar(&args)
}

fn import_from(from: &str, server: &Server, name: &str, out: &Path, extra: &[&str]) -> Run {
    let flag = if from == "qdrant" { "--collection" } else { "--index" };
    let url = server.url();
    let mut args = vec!["import", from, "--url", &url, flag, name, "-o", s(out)];
    args.extend_from_slice(extra);
    vecar(&args)
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_round_trip_gives_back_every_id_text_metadata_field_and_dot_vector_bits() {
    let dir = tempdir();
    let server = Server::qdrant(&[]);
    for metric_flag in ["ip", "l2"] {
        let car = varied(
            dir.path(),
            &format!("{metric_flag}.car"),
            40,
            &["--metric", metric_flag],
        );
        export_to(&car, "qdrant", &server, metric_flag, &["--batch", "16"]).ok();
        let back = dir.path().join(format!("{metric_flag}-back.car"));
        import_from("qdrant", &server, metric_flag, &back, &["--batch", "7"]).ok();
        assert_eq!(records(&back), records(&car), "{metric_flag}");
        assert_eq!(metric(&back), metric_flag);
    }
    assert!(server.requests("scroll") >= 6, "40 points in pages of 7");
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_normalises_cosine_vectors_and_keeps_everything_else() {
    let dir = tempdir();
    let server = Server::qdrant(&[]);
    let car = build_fixture(dir.path(), "docs.car", &["-q"]);
    let run = export_to(&car, "qdrant", &server, "docs", &[]).ok();
    assert!(
        run.stderr
            .contains("exported 300 points into collection docs, which holds 300"),
        "{}",
        run.stderr
    );
    let back = dir.path().join("back.car");
    import_from("qdrant", &server, "docs", &back, &["--threads", "2"]).ok();
    let again = dir.path().join("again.car");
    import_from("qdrant", &server, "docs", &again, &["--threads", "1"]).ok();
    assert_eq!(root_of(&again), root_of(&back), "a default import, at any thread count");
    let (before, after) = (records(&car), records(&back));
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (id, original) in &before {
        let returned = &after[id];
        assert_eq!(without_vector(returned), without_vector(original), "{id}");
        let v = vector(original);
        let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        for (a, b) in vector(returned).iter().zip(&v) {
            assert!((*a as f64 - *b as f64 / norm).abs() < 1e-6, "{id}: {a} vs {b}/{norm}");
        }
    }
    assert_eq!(metric(&back), "cos");
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_ids_it_cannot_take_are_uuid5s_with_the_original_in_the_payload() {
    let dir = tempdir();
    let server = Server::qdrant(&[]);
    let car = varied(dir.path(), "v.car", 7, &["--metric", "ip"]);
    export_to(&car, "qdrant", &server, "v", &[]).ok();
    let body = json!({"limit": 100, "with_payload": true});
    let (_, answer) = server.call("POST", "/collections/v/points/scroll", Some(&body), &[]);
    let points = answer["result"]["points"].as_array().unwrap();
    let by_id: BTreeMap<String, &Value> = points.iter().map(|p| (p["id"].to_string(), p)).collect();
    assert!(by_id["0"]["payload"].get("id").is_none());
    assert!(by_id["18446744073709551615"]["payload"].get("id").is_none());
    // uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, "vecar"), "doc-1"), computed by Python.
    let doc1 = &by_id["\"de185a34-ab58-5d1a-b7a0-d291747e1522\""];
    assert_eq!(doc1["payload"]["id"], json!("doc-1"));
    let negative = points.iter().find(|p| p["payload"]["id"] == json!(-7)).unwrap();
    assert!(negative["id"].is_string());
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_named_vectors_need_a_vector_name_and_give_their_distance() {
    let dir = tempdir();
    let server = Server::qdrant(&[]);
    let config = json!({"vectors": {"a": {"size": 3, "distance": "Dot"}, "b": {"size": 2, "distance": "Euclid"}}});
    assert_eq!(server.call("PUT", "/collections/named", Some(&config), &[]).0, 200);
    let points = json!({"points": [
        {"id": 1, "vector": {"a": [1, 2, 3], "b": [0.5, 0.25]}, "payload": {"text": "one"}},
        {"id": 2, "vector": {"a": [3, 2, 1], "b": [1.5, 2.5]}, "payload": {"text": "two", "k": [1]}},
    ]});
    assert_eq!(
        server
            .call("PUT", "/collections/named/points?wait=true", Some(&points), &[])
            .0,
        200
    );
    let out = dir.path().join("named.car");
    import_from("qdrant", &server, "named", &out, &[]).fails_with("give --vector-name, one of: a, b");
    assert!(!out.exists());
    import_from("qdrant", &server, "named", &out, &["--vector-name", "c"]).fails_with("no vector named \"c\"");
    import_from("qdrant", &server, "named", &out, &["--vector-name", "b"]).ok();
    assert_eq!(metric(&out), "l2");
    let back = records(&out);
    assert_eq!(
        back["2"],
        json!({"id": 2, "text": "two", "k": [1], "vector": [1.5, 2.5]})
    );
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_export_refuses_another_size_or_distance_and_a_full_collection_without_upsert() {
    let dir = tempdir();
    let server = Server::qdrant(&[]);
    let car = varied(dir.path(), "v.car", 10, &["--metric", "ip"]);
    let other = json!({"vectors": {"size": 4, "distance": "Dot"}});
    server.call("PUT", "/collections/small", Some(&other), &[]);
    export_to(&car, "qdrant", &server, "small", &[]).fails_with("holds vectors of Dot (size 4)");
    let cosine = json!({"vectors": {"size": 8, "distance": "Cosine"}});
    server.call("PUT", "/collections/cos", Some(&cosine), &[]);
    export_to(&car, "qdrant", &server, "cos", &[]).fails_with("holds vectors of Cosine (size 8)");
    export_to(&car, "qdrant", &server, "v", &[]).ok();
    export_to(&car, "qdrant", &server, "v", &[]).fails_with("already holds 10 points; give --upsert");
    let run = export_to(&car, "qdrant", &server, "v", &["--upsert"]).ok();
    assert!(
        run.stderr
            .contains("exported 10 points into collection v, which holds 10"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_a_batch_that_keeps_failing_ends_with_the_count_and_upsert_finishes() {
    let dir = tempdir();
    // The 3rd upsert request and the 4 retries after it answer 500.
    let server = Server::qdrant(&["--fault", "upsert:3:500:5"]);
    let car = varied(dir.path(), "v.car", 20, &["--metric", "ip"]);
    let run = export_to(&car, "qdrant", &server, "v", &["--batch", "4"]);
    run.fails_with("gave up after 5 attempts; the last: HTTP 500 Internal Server Error: injected failure");
    run.fails_with("exported 8 of 20 points; re-run with --upsert to continue");
    export_to(&car, "qdrant", &server, "v", &["--batch", "4"]).fails_with("already holds 8 points");
    export_to(&car, "qdrant", &server, "v", &["--batch", "4", "--upsert"]).ok();
    let back = dir.path().join("back.car");
    import_from("qdrant", &server, "v", &back, &[]).ok();
    assert_eq!(records(&back), records(&car));
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_500s_429_storms_and_dropped_connections_are_retried() {
    let dir = tempdir();
    let server = Server::qdrant(&[
        "--fault",
        "upsert:2:500",
        "--fault",
        "upsert:4:drop",
        "--fault",
        "upsert:6:429:3",
        "--fault",
        "scroll:2:drop",
        "--fault",
        "scroll:4:429:2",
        "--retry-after",
        "1",
    ]);
    let car = varied(dir.path(), "v.car", 20, &["--metric", "ip"]);
    export_to(&car, "qdrant", &server, "v", &["--batch", "4"]).ok();
    assert_eq!(server.requests("upsert"), 5 + 1 + 1 + 3);
    let back = dir.path().join("back.car");
    import_from("qdrant", &server, "v", &back, &["--batch", "4"]).ok();
    assert_eq!(records(&back), records(&car));
    assert_eq!(server.requests("scroll"), 5 + 1 + 2);
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn qdrant_import_that_fails_midway_writes_nothing_and_the_api_key_stays_secret() {
    let dir = tempdir();
    let server = Server::qdrant(&["--api-key", "sekrit-key", "--fault", "scroll:2:500:always"]);
    let car = varied(dir.path(), "v.car", 20, &["--metric", "ip"]);
    let run = export_to(&car, "qdrant", &server, "v", &[]);
    run.fails_with("HTTP 401 Unauthorized: Must provide an API key or an Authorization bearer token");
    let url = server.url();
    let env = [("VECAR_QDRANT_API_KEY", "sekrit-key")];
    let args = ["export", s(&car), "--to", "qdrant", "--url", &url, "--collection", "v"];
    vecar_with_env(&args, b"", &env).ok();
    let out = dir.path().join("out.car");
    let args = [
        "import",
        "qdrant",
        "--url",
        &url,
        "--collection",
        "v",
        "-o",
        s(&out),
        "--batch",
        "4",
    ];
    let run = vecar_with_env(&args, b"", &env);
    run.fails_with("gave up after 5 attempts");
    assert!(!run.stderr.contains("sekrit"), "{}", run.stderr);
    assert!(!out.exists(), "no partial archive");
    let missing = vecar_with_env(
        &["import", "qdrant", "--url", &url, "--collection", "nope", "-o", s(&out)],
        b"",
        &env,
    );
    missing.fails_with(&format!("{url}/collections/nope: no such collection"));
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn elasticsearch_round_trip_is_bit_exact_and_gives_the_same_root() {
    let dir = tempdir();
    let server = Server::elasticsearch(&[]);
    let car = build_fixture(dir.path(), "docs.car", &["-q", "--threads", "1"]);
    let run = export_to(&car, "elasticsearch", &server, "docs", &[]).ok();
    assert!(
        run.stderr
            .contains("exported 300 documents into index docs, which holds 300"),
        "{}",
        run.stderr
    );
    let back = dir.path().join("back.car");
    let run = import_from("elasticsearch", &server, "docs", &back, &["--threads", "2"]).ok();
    let root = vecar(&["root", s(&car)]).ok().stdout;
    assert_eq!(
        run.stdout, root,
        "same records, same order, same settings, at any thread count: the same archive"
    );
    for (i, metric_flag) in ["ip", "l2"].iter().enumerate() {
        let car = varied(
            dir.path(),
            &format!("{metric_flag}.car"),
            30,
            &["--metric", metric_flag],
        );
        let index = format!("v{i}");
        export_to(&car, "elasticsearch", &server, &index, &["--batch", "7"]).ok();
        let back = dir.path().join(format!("{metric_flag}-back.car"));
        import_from("elasticsearch", &server, &index, &back, &["--batch", "4"]).ok();
        assert_eq!(records(&back), records(&car), "{metric_flag}");
        assert_eq!(metric(&back), *metric_flag);
    }
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn elasticsearch_credentials_in_the_url_or_the_environment_are_sent_and_never_shown() {
    let dir = tempdir();
    let server = Server::elasticsearch(&["--basic", "elastic:sekrit", "--api-key", "key-sekrit"]);
    let car = varied(dir.path(), "v.car", 5, &["--metric", "l2"]);
    let port = server.port;
    let wrong = format!("http://elastic:wrong-sekrit@127.0.0.1:{port}");
    let run = vecar(&[
        "export",
        s(&car),
        "--to",
        "elasticsearch",
        "--url",
        &wrong,
        "--index",
        "v",
    ]);
    run.fails_with(&format!(
        "http://127.0.0.1:{port}/v/_mapping: HTTP 401 Unauthorized: missing authentication credentials"
    ));
    assert!(!run.stderr.contains("sekrit"), "{}", run.stderr);
    let right = format!("http://elastic:sekrit@127.0.0.1:{port}/");
    let run = vecar(&[
        "export",
        s(&car),
        "--to",
        "elasticsearch",
        "--url",
        &right,
        "--index",
        "v",
    ])
    .ok();
    assert!(!run.stderr.contains("sekrit"), "{}", run.stderr);
    let out = dir.path().join("out.car");
    let env = [("VECAR_ES_API_KEY", "key-sekrit")];
    let url = server.url();
    let args = ["import", "elasticsearch", "--url", &url, "--index", "v", "-o", s(&out)];
    vecar_with_env(&args, b"", &env).ok();
    assert_eq!(records(&out), records(&car));
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn elasticsearch_refused_documents_are_named_and_counted() {
    let dir = tempdir();
    let server = Server::elasticsearch(&[]);
    let car = build_fixture(dir.path(), "docs.car", &["-q"]);
    let mapping = json!({"mappings": {"properties": {
        "vector": {"type": "dense_vector", "dims": 384, "index": true, "similarity": "cosine"},
        "source": {"type": "long"},
    }}});
    assert_eq!(server.call("PUT", "/docs", Some(&mapping), &[]).0, 200);
    let run = export_to(&car, "elasticsearch", &server, "docs", &["--batch", "100"]);
    run.fails_with("100 of 100 documents were refused; \"doc-00000\": document_parsing_exception: failed to parse field [source] of type [long]");
    run.fails_with("exported 0 of 300 documents; re-run with --upsert to continue");
    let other = json!({"mappings": {"properties": {"vector": {"type": "dense_vector", "dims": 3}}}});
    server.call("PUT", "/small", Some(&other), &[]);
    export_to(&car, "elasticsearch", &server, "small", &[]).fails_with("maps vector as");
    let out = dir.path().join("out.car");
    import_from("elasticsearch", &server, "nope", &out, &[]).fails_with("/nope: no such index");
    export_to(&car, "elasticsearch", &server, "Bad*Name", &[])
        .fails_with("HTTP 400 Bad Request: Invalid index name [Bad*Name]");
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn elasticsearch_failures_midway_end_with_the_count_and_retries_recover() {
    let dir = tempdir();
    let server = Server::elasticsearch(&[
        "--fault",
        "bulk:3:500:5",
        "--fault",
        "bulk:9:429:3",
        "--fault",
        "bulk:13:drop",
        "--fault",
        "scroll:2:drop",
        "--fault",
        "search:1:429:2",
        "--retry-after",
        "1",
    ]);
    let car = varied(dir.path(), "v.car", 20, &["--metric", "ip"]);
    let run = export_to(&car, "elasticsearch", &server, "v", &["--batch", "4"]);
    run.fails_with("exported 8 of 20 documents; re-run with --upsert to continue");
    export_to(&car, "elasticsearch", &server, "v", &["--batch", "4"]).fails_with("already holds 8 documents");
    export_to(&car, "elasticsearch", &server, "v", &["--batch", "4", "--upsert"]).ok();
    let back = dir.path().join("back.car");
    import_from("elasticsearch", &server, "v", &back, &["--batch", "6"]).ok();
    assert_eq!(records(&back), records(&car));
    assert_eq!(server.requests("bulk"), 2 + 5 + 5 + 3 + 1);
}

#[test]
#[ignore = "needs tests/py/install.sh"]
fn opensearch_knn_vector_indexes_import_with_their_space_type() {
    let dir = tempdir();
    let server = Server::elasticsearch(&[]);
    let mapping = json!({"settings": {"index": {"knn": true}}, "mappings": {"properties": {
        "embedding": {"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "space_type": "innerproduct", "engine": "faiss"}},
        "other": {"type": "knn_vector", "dimension": 2},
    }}});
    assert_eq!(server.call("PUT", "/os", Some(&mapping), &[]).0, 200);
    let bulk = "{\"index\":{\"_id\":\"a\"}}\n{\"embedding\":[1,2,3],\"other\":[1,1],\"text\":\"x\"}\n\
                {\"index\":{\"_id\":\"7\"}}\n{\"embedding\":[0.5,0.25,0.125],\"other\":[2,2],\"id\":7}\n";
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let answer = agent
        .post(format!("{}/os/_bulk?refresh=true", server.url()))
        .header("content-type", "application/x-ndjson")
        .send(bulk)
        .unwrap();
    assert_eq!(answer.status(), 200);
    let out = dir.path().join("os.car");
    import_from("elasticsearch", &server, "os", &out, &[]).fails_with("give --vector-field, one of: embedding, other");
    import_from("elasticsearch", &server, "os", &out, &["--vector-field", "embedding"]).ok();
    assert_eq!(metric(&out), "ip");
    let back = records(&out);
    assert_eq!(
        back["a"],
        json!({"id": "a", "other": [1, 1], "text": "x", "vector": [1.0, 2.0, 3.0]})
    );
    assert_eq!(back["7"]["id"], json!(7));
}

#[test]
fn store_flags_for_the_wrong_target_are_usage_errors() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["-q"]);
    let car = s(&car);
    for (args, message) in [
        (vec!["--to", "qdrant", "--url", "http://h"], "give --collection NAME"),
        (vec!["--to", "elasticsearch", "--url", "http://h"], "give --index NAME"),
        (vec!["--to", "qdrant", "--collection", "c"], "give --url URL"),
        (
            vec![
                "--to",
                "qdrant",
                "--url",
                "http://h",
                "--collection",
                "c",
                "--index",
                "i",
            ],
            "--index is for --to elasticsearch",
        ),
        (vec!["--url", "http://h"], "--to"),
    ] {
        let run = vecar(&[&["export", car][..], &args].concat());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    let run = vecar(&[
        "export",
        car,
        "--to",
        "qdrant",
        "--url",
        "ftp://u:sekrit@h",
        "--collection",
        "c",
    ]);
    run.fails_with("--url \"ftp://h\" is not an http:// or https:// URL");
}
