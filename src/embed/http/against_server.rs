//! The HTTP embedding provider against a fake server: batches, retries, errors, and a key that
//! is never shown. (`build` and `query` through an endpoint are tested on the binary, in
//! tests/cli/embed_http.rs.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake_server::{serve, Request, Response, Server};
use serde_json::{json, Value};

use super::{Endpoint, BATCH};
use crate::embed::{Embedder, TextError};

/// The CLI tests' server (tests/cli/fake_server.rs), compiled here too so that there is one; the
/// parts only the CLI tests use (binary bodies, cut-off answers, the base URL) are unused here.
#[allow(dead_code)]
#[path = "../../../tests/cli/fake_server.rs"]
mod fake_server;

/// A deterministic `dims`-long vector for `text`: its length, then its bytes' values, cycled.
fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let bytes = text.as_bytes();
    (0..dims)
        .map(|i| match i {
            0 => bytes.len() as f32,
            _ if bytes.is_empty() => 0.0,
            _ => f32::from(bytes[(i - 1) % bytes.len()]) / 255.0,
        })
        .collect()
}

/// A responder's answer to an embeddings request: a [`fake_vector`] of `dims` numbers per
/// text, listed in reverse order (servers may reorder; `index` says which is which).
fn embeddings(request: &Request, dims: usize) -> Response {
    let data: Vec<Value> = request
        .texts()
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": fake_vector(text, dims)}))
        .collect();
    let model = request.json()["model"].clone();
    Response::json(200, &json!({"object": "list", "data": data, "model": model}))
}

const KEY: &str = "sk-test-5ecret-key";

/// An endpoint for `server` with no API key and 1 ms backoff.
fn endpoint(server: &Server) -> Endpoint {
    Endpoint::new(&server.url(), "test-model")
        .unwrap()
        .with_api_key(None)
        .unwrap()
        .with_backoff(Duration::from_millis(1))
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text number {i}")).collect()
}

/// A responder that answers `first` to the first `times` requests and then embeds.
fn failing_first(times: usize, first: fn() -> Response) -> impl Fn(&Request) -> Response {
    let count = AtomicUsize::new(0);
    move |request| {
        if count.fetch_add(1, Ordering::SeqCst) < times {
            first()
        } else {
            embeddings(request, 4)
        }
    }
}

/// The TextError behind `error`, if it is one.
fn text_error(error: &anyhow::Error) -> &TextError {
    error
        .downcast_ref::<TextError>()
        .unwrap_or_else(|| panic!("expected a TextError, got {error:#}"))
}

#[test]
fn embeds_in_batches_and_places_answers_by_index() {
    let server = serve(|request| embeddings(request, 5));
    let mut endpoint = endpoint(&server);
    assert_eq!(endpoint.info().dimensions, None);
    let texts = texts(2 * BATCH + 22);
    let vectors = endpoint.embed(&texts).unwrap();
    let expected: Vec<Vec<f32>> = texts.iter().map(|t| fake_vector(t, 5)).collect();
    assert_eq!(vectors, expected);

    let requests = server.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.texts().len()).collect();
    assert_eq!(sizes, [BATCH, BATCH, 22]);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/embeddings");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), None);
        let body = request.json();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["encoding_format"], "float");
    }
    let info = endpoint.info();
    assert_eq!(
        (
            info.provider.as_str(),
            info.model.as_str(),
            info.dimensions,
            info.weights
        ),
        ("http", "test-model", Some(5), None)
    );
    assert!(endpoint.embed(&[]).unwrap().is_empty());
    assert_eq!(server.requests().len(), 3, "no request for no texts");
}

#[test]
fn the_full_url_is_used_as_given() {
    let server = serve(|request| embeddings(request, 3));
    let url = format!("{}/embeddings", server.url());
    let mut endpoint = Endpoint::new(&url, "m").unwrap().with_api_key(None).unwrap();
    endpoint.embed(&texts(2)).unwrap();
    assert_eq!(server.requests()[0].path, "/v1/embeddings");
}

#[test]
fn the_api_key_is_sent_but_never_shown() {
    let server = serve(|request| {
        if request.texts()[0] == "ok" {
            embeddings(request, 2)
        } else {
            Response::json(
                401,
                &json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}}),
            )
        }
    });
    let mut endpoint = endpoint(&server).with_api_key(Some(KEY)).unwrap();
    endpoint.embed(&["ok".to_string()]).unwrap();
    assert_eq!(
        server.requests()[0].header("Authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let error = endpoint.embed(&["refused".to_string()]).unwrap_err();
    let message = format!("{error:?}");
    assert!(
        message.contains("401") && message.contains("Incorrect API key provided: ***"),
        "{message}"
    );
    assert!(!message.contains(KEY), "{message}");

    // Nor when giving up after retries, with the key in the URL's user information too.
    let server = serve(|_| Response::text(500, &format!("upstream rejected {KEY}")));
    let url = server.url().replace("://", &format!("://user:{KEY}@"));
    let mut endpoint = Endpoint::new(&url, "m")
        .unwrap()
        .with_api_key(Some(KEY))
        .unwrap()
        .with_backoff(Duration::from_millis(1));
    let message = format!("{:?}", endpoint.embed(&texts(1)).unwrap_err());
    assert!(
        message.contains("gave up") && message.contains("upstream rejected ***"),
        "{message}"
    );
    assert!(!message.contains(KEY), "{message}");
}

#[test]
fn retries_429_honouring_retry_after() {
    let server = serve(failing_first(1, || {
        Response::json(429, &json!({"error": "slow down"})).header("Retry-After", "1")
    }));
    let start = Instant::now();
    let vectors = endpoint(&server).embed(&texts(3)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(vectors.len(), 3);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retries_503_and_dropped_connections() {
    let server = serve(failing_first(2, || Response::text(503, "loading model")));
    endpoint(&server).embed(&texts(3)).unwrap();
    assert_eq!(server.requests().len(), 3);

    let server = serve(failing_first(2, Response::hang_up));
    endpoint(&server).embed(&texts(3)).unwrap();
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn gives_up_after_five_attempts_with_growing_waits() {
    let server = serve(|_| Response::json(500, &json!({"error": {"message": "out of memory"}})));
    let start = Instant::now();
    let error = endpoint(&server)
        .with_backoff(Duration::from_millis(20))
        .embed(&texts(3))
        .unwrap_err();
    // Waits of 20, 40, 80 and 160 ms.
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.requests().len(), 5);
    let message = error.to_string();
    let url = format!("{}/embeddings", server.url());
    assert_eq!(
        message,
        format!("{url}: gave up after 5 attempts; the last: HTTP 500 Internal Server Error: out of memory")
    );
}

#[test]
fn a_client_error_is_not_retried() {
    let server = serve(|_| {
        Response::json(
            400,
            &json!({"error": {"message": "model \"test-model\" not found, try pulling it first", "type": "api_error"}}),
        )
    });
    let error = endpoint(&server).embed(&texts(3)).unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        error.to_string(),
        format!(
            "{}/embeddings: HTTP 400 Bad Request: model \"test-model\" not found, try pulling it first",
            server.url()
        )
    );
}

#[test]
fn long_error_bodies_are_cut_short() {
    let server = serve(|_| Response::text(404, &format!("<html>\n{}\n</html>", "x".repeat(5000))));
    let message = endpoint(&server).embed(&texts(1)).unwrap_err().to_string();
    assert!(message.contains("HTTP 404 Not Found: <html> xxx"), "{message}");
    assert!(message.ends_with('…') && message.len() < 400, "{message}");
}

#[test]
fn malformed_answers_are_errors() {
    let cases: [(Response, &str); 6] = [
        (Response::text(200, "{\"data\": [oops"), "the answer is not valid JSON"),
        (Response::text(200, ""), "the answer is not valid JSON"),
        (
            Response::json(200, &json!({"data": {"0": [1.0]}})),
            "\"data\" is an object, not an array",
        ),
        (
            Response::json(200, &json!({"object": "list"})),
            "the answer has no \"data\"",
        ),
        (
            Response::json(200, &json!({"error": {"message": "quota exceeded"}})),
            "the server answered with an error: quota exceeded",
        ),
        (
            Response::json(200, &json!({"data": [{"index": 7, "embedding": [1.0]}]})),
            "data[0].index is 7, not an index below 2",
        ),
    ];
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let server = serve(move |_| response.lock().unwrap().take().unwrap_or_else(Response::hang_up));
        let error = endpoint(&server).embed(&texts(2)).unwrap_err();
        assert!(error.downcast_ref::<TextError>().is_none());
        assert!(error.to_string().contains(expected), "{error:#} lacks {expected:?}");
        assert_eq!(server.requests().len(), 1, "{expected}");
    }
}

/// A server that embeds but answers the `index`-th text of the batch starting at `from` with
/// `item` (`None`: leaves it out).
fn serve_with_item(from: usize, index: usize, item: Option<Value>) -> Server {
    serve(move |request| {
        let texts = request.texts();
        let mut data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"index": i, "embedding": fake_vector(t, 4)}))
            .collect();
        if texts[0] == format!("text number {from}") {
            match &item {
                Some(item) => data[index] = item.clone(),
                None => drop(data.remove(index)),
            }
        }
        Response::json(200, &json!({ "data": data }))
    })
}

#[test]
fn a_missing_answer_is_an_error_about_its_text() {
    let server = serve_with_item(BATCH, 3, None);
    let error = endpoint(&server).embed(&texts(BATCH + 10)).unwrap_err();
    assert_eq!(text_error(&error).index, BATCH + 3);
    assert!(error.to_string().contains("no embedding for this text"), "{error}");
}

#[test]
fn a_bad_embedding_is_an_error_about_its_text() {
    let cases = [
        (
            json!({"index": 5, "embedding": [1.0, 2.0, 3.0]}),
            "3 numbers where others have 4",
        ),
        (
            json!({"index": 5, "embedding": [1.0, 2.0, 3.0, 4.0, 5.0]}),
            "5 numbers where others have 4",
        ),
        (
            json!({"index": 5, "embedding": [1.0, "2", 3.0, 4.0]}),
            "must be a number",
        ),
        (
            json!({"index": 5, "embedding": [1.0, 1e300, 3.0, 4.0]}),
            "out of float32 range",
        ),
        (
            json!({"index": 5, "embedding": "AACAPwAAAEA="}),
            "must be an array of numbers",
        ),
        (json!({"index": 5, "embedding": []}), "is empty"),
        (json!({"index": 5}), "has no \"embedding\""),
    ];
    for (item, expected) in cases {
        let server = serve_with_item(0, 5, Some(item));
        let error = endpoint(&server).embed(&texts(8)).unwrap_err();
        assert_eq!(text_error(&error).index, 5, "{error}");
        assert!(error.to_string().contains(expected), "{error} lacks {expected:?}");
    }

    // Later answers must keep the length of the first.
    let count = AtomicUsize::new(0);
    let server = serve(move |request| embeddings(request, 4 + 2 * count.fetch_add(1, Ordering::SeqCst).min(1)));
    let mut endpoint = endpoint(&server);
    endpoint.embed(&texts(2)).unwrap();
    let error = endpoint.embed(&texts(2)).unwrap_err();
    assert_eq!(text_error(&error).index, 0);
    assert!(error.to_string().contains("6 numbers where others have 4"), "{error}");
}

#[test]
fn an_index_given_twice_is_an_error() {
    let server = serve_with_item(0, 1, Some(json!({"index": 0, "embedding": [1.0, 2.0, 3.0, 4.0]})));
    let error = endpoint(&server).embed(&texts(3)).unwrap_err();
    assert!(error.downcast_ref::<TextError>().is_none());
    assert!(error.to_string().contains("index 0 more than once"), "{error}");
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let error = Endpoint::new(&url, "m")
        .unwrap()
        .with_backoff(Duration::from_millis(1))
        .embed(&texts(1))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{url}/embeddings: gave up after 5 attempts; the last: ")),
        "{message}"
    );
    assert!(message.contains("connection failed: "), "{message}");
}

#[test]
fn a_slow_server_times_out() {
    let server = serve(|request| {
        std::thread::sleep(Duration::from_millis(1500));
        embeddings(request, 2)
    });
    let start = Instant::now();
    let error = endpoint(&server)
        .with_timeout(Duration::from_millis(150))
        .embed(&texts(1))
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(1400));
    let message = error.to_string();
    assert!(
        message.ends_with("gave up after 5 attempts; the last: no complete answer within 150ms"),
        "{message}"
    );
}
