//! JSON over HTTP to a store's REST API (Qdrant, Elasticsearch), through the one HTTP client
//! ([`crate::http`]): its timeouts, its retries on 429, 5xx and failed connections (honouring
//! `Retry-After`), and its wording. Any other answer that is not 2xx stops with the store's own
//! message. Credentials never reach a message: `user:password@` in the URL is taken out of it and
//! sent as Basic authentication, and messages show the URL without it.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::Value;
use ureq::http::{header, Method, Request, StatusCode};
use ureq::Agent;

use crate::http::{self, checked, Attempt, Limit, Retry, Url};

/// A store peer that sends or takes nothing this long is given up (a bulk write with
/// `wait=true` may take a while, but not silently this long).
const IDLE: Duration = Duration::from_secs(120);
/// The largest answer read: a page of 10,000 points of 4,096 numbers as JSON is about 900 MB,
/// which no sensible batch asks for; 256 points of 4,096 numbers are about 25 MB.
const MAX_ANSWER: u64 = 1 << 30;

/// A request body and its content type.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// A JSON document.
    Json(&'a Value),
    /// Newline-delimited JSON (Elasticsearch's `_bulk`).
    Ndjson(&'a [u8]),
}

/// A store's REST API at one base URL.
pub struct Rest {
    /// The base URL without user information and without a trailing `/`.
    base: String,
    /// `base` as messages show it (no query string either).
    shown: String,
    /// Headers sent with every request (authentication).
    headers: Vec<(&'static str, String)>,
    agent: Agent,
    retry: Retry,
}

impl Rest {
    /// The API at `url` (`http://` or `https://`, perhaps with `user:password@`, which becomes
    /// Basic authentication); `flag` names the option that gave it, for messages.
    pub fn new(url: &str, flag: &str) -> Result<Rest> {
        if url.contains(['?', '#']) {
            bail!(
                "{flag} {:?}: give the URL without a query string or fragment",
                http::redact(url)
            );
        }
        let Url {
            scheme,
            user,
            host,
            path,
            ..
        } = Url::parse(url, flag)?;
        let base = checked(format!("{scheme}://{host}{}", path.trim_end_matches('/')), flag)?;
        let mut headers = Vec::new();
        if let Some(user) = user {
            let (name, password) = user.split_once(':').unwrap_or((user, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            let pair = format!("{}:{}", decode(name), decode(password));
            let token = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization", format!("Basic {token}")));
        }
        Ok(Rest {
            shown: http::redact(&base),
            base,
            headers,
            agent: http::agent(Limit::Idle(IDLE)),
            retry: Retry::default(),
        })
    }

    /// Also sends header `name: value` with every request (an API key), replacing any
    /// authorization the URL gave when `name` is `authorization`.
    pub fn with_header(mut self, name: &'static str, value: String) -> Rest {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// The base URL as messages show it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Sends `body` to `path` (which starts with `/`; its variable parts already escaped with
    /// [`segment`]) and gives the JSON answer; an error for any answer but 2xx.
    pub fn call(&self, method: Method, path: &str, body: Body) -> Result<Value> {
        self.send(method, path, body, false)?
            .ok_or_else(|| anyhow!("{}{path}: HTTP 404", self.shown))
    }

    /// As [`Rest::call`], but `None` for a 404 answer (a collection or index that does not
    /// exist).
    pub fn call_or_missing(&self, method: Method, path: &str, body: Body) -> Result<Option<Value>> {
        self.send(method, path, body, true)
    }

    fn send(&self, method: Method, path: &str, body: Body, missing_ok: bool) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let shown = format!("{}{}", self.shown, path.split('?').next().unwrap_or_default());
        let (kind, bytes) = match body {
            Body::Empty => (None, Vec::new()),
            Body::Json(value) => (Some("application/json"), serde_json::to_vec(value)?),
            Body::Ndjson(bytes) => (Some("application/x-ndjson"), bytes.to_vec()),
        };
        self.retry.run(&shown, || {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(header::ACCEPT, "application/json");
            if let Some(kind) = kind {
                request = request.header(header::CONTENT_TYPE, kind);
            }
            for (name, value) in &self.headers {
                request = request.header(*name, value);
            }
            let request = match request.body(bytes.clone()) {
                Ok(request) => request,
                Err(e) => return Attempt::Failed(anyhow!("{shown}: {e}")),
            };
            let mut response = match self.agent.run(request) {
                Ok(response) => response,
                Err(error) => return http::transport(&shown, error, Limit::Idle(IDLE)),
            };
            let status = response.status();
            if status == StatusCode::NOT_FOUND && missing_ok {
                return Attempt::Done(None);
            }
            if !status.is_success() {
                if http::is_transient(status) {
                    let after = http::retry_after(&response);
                    let message = response
                        .body_mut()
                        .with_config()
                        .limit(64 << 10)
                        .read_to_vec()
                        .map(|b| http::message_of(&b))
                        .unwrap_or_default();
                    return Attempt::Again(format!("HTTP {status}: {message}"), after);
                }
                return Attempt::Failed(http::refused(&shown, response));
            }
            let answer = match response.body_mut().with_config().limit(MAX_ANSWER).read_to_vec() {
                Ok(answer) => answer,
                Err(error) => return http::transport(&shown, error, Limit::Idle(IDLE)),
            };
            if answer.is_empty() {
                return Attempt::Done(Some(Value::Null));
            }
            match serde_json::from_slice(&answer).with_context(|| format!("{shown}: the answer is not JSON")) {
                Ok(value) => Attempt::Done(Some(value)),
                Err(e) => Attempt::Failed(e),
            }
        })
    }
}

/// `name` escaped for one segment of a URL path.
pub fn segment(name: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(name, ESCAPED).to_string()
}

/// The JSON at `path` (keys separated by `/`) inside `value`, or an error naming `what` answered
/// without it.
pub fn at<'a>(value: &'a Value, path: &str, what: &str) -> Result<&'a Value> {
    value
        .pointer(&format!("/{path}"))
        .ok_or_else(|| anyhow!("{what}: the answer has no {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_for_a_header() {
        let rest = Rest::new("http://elastic:s%40krit@127.0.0.1:9200/", "--url").unwrap();
        assert_eq!(rest.base, "http://127.0.0.1:9200");
        assert_eq!(rest.shown(), "http://127.0.0.1:9200");
        let token = base64::engine::general_purpose::STANDARD.encode("elastic:s@krit");
        assert_eq!(rest.headers, vec![("authorization", format!("Basic {token}"))]);
        for bad in [
            "127.0.0.1:9200",
            "ftp://h",
            "http://u:sekrit@/",
            "http://u:sekrit@h/?x=1",
        ] {
            let error = Rest::new(bad, "--url").err().unwrap().to_string();
            assert!(!error.contains("sekrit"), "{error}");
        }
    }

    #[test]
    fn names_are_escaped_for_a_path() {
        assert_eq!(segment("my docs/v1?"), "my%20docs%2Fv1%3F");
        assert_eq!(segment("docs-2024_a.b"), "docs-2024_a.b");
    }
}
