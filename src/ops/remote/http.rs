//! The HTTP client shared by the RPC API and gateway requests, and the wording of what went wrong.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, Error};
use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

/// Time allowed to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for each read or write once connected: an archive streams for as long as it
/// takes, but a peer that stalls this long is given up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The most of an error answer read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// How many characters of a node's message go into ours.
const SNIPPET: usize = 300;

/// A client that hands back every status as a response, connects within 10 s and gives up on a
/// peer that sends or takes nothing for 120 s, however long the whole transfer lasts.
pub fn agent() -> Agent {
    Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(IDLE_TIMEOUT))
        .timeout_per_write(Some(IDLE_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A failed request to `url`, in words.
pub fn failure(url: &str, error: ureq::Error) -> Error {
    use ureq::Error::*;
    match error {
        Io(error) => anyhow!("{url}: connection failed: {error}"),
        ConnectionFailed => anyhow!("{url}: connection failed"),
        Timeout(ureq::Timeout::Connect) => anyhow!("{url}: could not connect within {CONNECT_TIMEOUT:?}"),
        Timeout(_) => anyhow!("{url}: no answer within {IDLE_TIMEOUT:?}"),
        BadUri(_) => anyhow!("{url} is not a URL vecar can send to"),
        error => anyhow!("{url}: {error}"),
    }
}

/// The error of a non-2xx answer from `url`: its status and the start of its message (Kubo's
/// `{"Message": ...}`, else the body's text).
pub fn refused(url: &str, mut response: Response<Body>) -> Error {
    let status = response.status();
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("Message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.into_owned());
    let message = one_line(&message);
    match read {
        Err(e) if message.is_empty() => anyhow!("{url}: HTTP {status} ({e})"),
        _ if message.is_empty() => anyhow!("{url}: HTTP {status}"),
        _ => anyhow!("{url}: HTTP {status}: {message}"),
    }
}

/// `text` on one line, cut to [`SNIPPET`] characters.
pub fn one_line(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(SNIPPET) {
        None => text,
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}
