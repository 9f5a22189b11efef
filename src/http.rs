//! The one HTTP client of vecar, for everything that talks HTTP (embedding endpoints, IPFS nodes
//! and gateways, range reads, bridges to other stores): a blocking ureq agent that hands back
//! every status as a response and follows no redirects, with bounded time; a retry loop with
//! exponential backoff for what is worth retrying (429, 5xx, a failed connection, a timeout),
//! honouring `Retry-After`; and the wording of what went wrong, with no credentials in it.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Error, Result};
use serde_json::Value;
use ureq::http::{header, Response, StatusCode};
use ureq::{Agent, Body};

/// Time allowed to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait a `Retry-After` header may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The most of an error answer read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// How many characters of a server's message go into ours.
const SNIPPET: usize = 300;

/// How long a request may take once connected.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// The whole request, from connecting to the last byte of the answer.
    Whole(Duration),
    /// Each read or write: a transfer lasts as long as it takes, but a peer that sends or takes
    /// nothing for this long is given up.
    Idle(Duration),
}

/// Idle connections a client keeps for reuse, per host: as many as a fetcher runs at once at
/// most (`--fetch-jobs`), so a second batch of blocks does not connect (and shake hands) again.
const IDLE_CONNECTIONS: usize = 256;

/// A client that hands back every status as a response, follows no redirects, connects within
/// 10 s (or `limit`, if less), keeps idle connections for reuse and gives up as `limit` says.
pub fn agent(limit: Limit) -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(IDLE_CONNECTIONS)
        .max_idle_connections_per_host(IDLE_CONNECTIONS);
    let config = match limit {
        Limit::Whole(limit) => config
            .timeout_connect(Some(CONNECT_TIMEOUT.min(limit)))
            .timeout_global(Some(limit)),
        Limit::Idle(limit) => config
            .timeout_connect(Some(CONNECT_TIMEOUT.min(limit)))
            .timeout_per_read(Some(limit))
            .timeout_per_write(Some(limit)),
    };
    config.build().into()
}

/// How one attempt at a request ended.
pub enum Attempt<T> {
    /// It worked.
    Done(T),
    /// Worth trying again (after the server's `Retry-After`, if it gave one): why it failed.
    Again(String, Option<Duration>),
    /// Not worth trying again.
    Failed(Error),
}

/// How often, and after how long, a failed request is tried again.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait before the first retry; each later wait doubles it.
    pub backoff: Duration,
}

impl Default for Retry {
    /// 5 tries, waiting 0.5 s, 1 s, 2 s and 4 s between them.
    fn default() -> Retry {
        Retry {
            attempts: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

impl Retry {
    /// Runs `attempt` until it is done or fails for good, waiting between tries; after the last
    /// try, an error that names `shown` (the URL without credentials) and the last reason.
    pub fn run<T>(&self, shown: &str, mut attempt: impl FnMut() -> Attempt<T>) -> Result<T> {
        let attempts = self.attempts.max(1);
        for n in 1.. {
            match attempt() {
                Attempt::Done(value) => return Ok(value),
                Attempt::Failed(error) => return Err(error),
                Attempt::Again(why, _) if n >= attempts => {
                    bail!("{shown}: gave up after {attempts} attempts; the last: {why}")
                }
                Attempt::Again(_, after) => {
                    let doubled = self.backoff.saturating_mul(1 << (n - 1).min(16));
                    std::thread::sleep(after.unwrap_or(doubled));
                }
            }
        }
        unreachable!("the loop returns")
    }
}

/// Whether an answer with `status` is worth asking for again: 429 and 5xx.
pub fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The wait a `Retry-After` header asks for (in seconds; at most a minute).
pub fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let value = response.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    let seconds = value.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// What a failed request means: a failed connection or a timeout is worth another try, any other
/// failure is not. `shown` is the URL without credentials, `limit` the agent's.
pub fn transport<T>(shown: &str, error: ureq::Error, limit: Limit) -> Attempt<T> {
    if is_transport(&error) {
        Attempt::Again(describe(error, limit), None)
    } else {
        Attempt::Failed(failure(shown, error, limit))
    }
}

/// Whether `error` is a failed connection or a timeout.
fn is_transport(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_)
    )
}

/// A failed request to `shown` (the URL without credentials), in words.
pub fn failure(shown: &str, error: ureq::Error, limit: Limit) -> Error {
    match error {
        ureq::Error::BadUri(_) => anyhow!("{shown} is not a URL vecar can send to"),
        error => anyhow!("{shown}: {}", describe(error, limit)),
    }
}

/// `error` in words, for an agent made with `limit`.
fn describe(error: ureq::Error, limit: Limit) -> String {
    use ureq::Error::*;
    let (Limit::Whole(time) | Limit::Idle(time)) = limit;
    match (error, limit) {
        (Io(error), _) => format!("connection failed: {}", crate::output::describe(&error)),
        (ConnectionFailed, _) => "connection failed".into(),
        (Timeout(ureq::Timeout::Connect), _) => {
            format!("could not connect within {:?}", CONNECT_TIMEOUT.min(time))
        }
        (Timeout(_), Limit::Whole(_)) => format!("no complete answer within {time:?}"),
        (Timeout(_), Limit::Idle(_)) => format!("no answer for {time:?}"),
        (BodyExceedsLimit(bytes), _) => format!("the answer is larger than {bytes} bytes"),
        (error, _) => error.to_string(),
    }
}

/// The error of a non-2xx answer from `shown`: its status and the start of its message (see
/// [`error_message`]), on one line.
pub fn refused(shown: &str, mut response: Response<Body>) -> Error {
    let status = response.status();
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut body);
    let message = message_of(&body);
    let hint = match response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        Some(to) if status.is_redirection() => {
            format!(
                " (redirects are not followed: give the URL it points to, {})",
                redact(to)
            )
        }
        _ => String::new(),
    };
    match read {
        Err(e) if message.is_empty() => anyhow!("{shown}: HTTP {status} ({e}){hint}"),
        _ if message.is_empty() => anyhow!("{shown}: HTTP {status}{hint}"),
        _ => anyhow!("{shown}: HTTP {status}: {message}{hint}"),
    }
}

/// The message of an answer's body, on one line and cut short: the error message of a JSON
/// body (see [`error_message`]), else the body's text.
pub fn message_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| error_message(&v).map(str::to_string))
        .unwrap_or_else(|| text.into_owned());
    one_line(&message)
}

/// The message of a JSON error answer in the shapes servers use: `{"Message": M}` (Kubo),
/// `{"error": {"message": M}}` (OpenAI, vLLM, Ollama), `{"error": {"reason": M}}`
/// (Elasticsearch), `{"error": M}` (TEI, llama.cpp), `{"status": {"error": M}}` (Qdrant),
/// `{"message": M}` or `{"detail": M}`.
pub fn error_message(value: &Value) -> Option<&str> {
    let error = value.get("error");
    [
        value.get("Message"),
        error.and_then(|e| e.get("message")),
        error.and_then(|e| e.get("reason")),
        error,
        value.get("status").and_then(|s| s.get("error")),
        value.get("message"),
        value.get("detail"),
    ]
    .into_iter()
    .find_map(|v| v.and_then(Value::as_str))
}

/// `text` on one line, cut to a few hundred characters.
pub fn one_line(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(SNIPPET) {
        None => text,
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// An `http://` or `https://` URL given on a command line, in its parts (a fragment dropped).
#[derive(Debug, PartialEq, Eq)]
pub struct Url<'a> {
    /// `http` or `https`, as given.
    pub scheme: &'a str,
    /// The user information before `@`, if any (`user:password`, still percent-encoded).
    pub user: Option<&'a str>,
    /// `host` or `host:port`.
    pub host: &'a str,
    /// The path, from its `/` (empty if none).
    pub path: &'a str,
    /// The query string after `?`, if any.
    pub query: Option<&'a str>,
}

impl<'a> Url<'a> {
    /// Splits `url` (blanks around it ignored); `flag` names the option that gave it, for the
    /// messages, which show the URL without credentials.
    pub fn parse(url: &'a str, flag: &str) -> Result<Url<'a>> {
        let url = url.trim();
        let shown = redact(url);
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) if ["http", "https"].iter().any(|s| scheme.eq_ignore_ascii_case(s)) => (scheme, rest),
            _ => bail!("{flag} {shown:?} is not an http:// or https:// URL"),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority),
        };
        if host.is_empty() {
            bail!("{flag} {shown:?} names no host");
        }
        Ok(Url {
            scheme,
            user,
            host,
            path,
            query,
        })
    }
}

/// `url`, checked to be a URL a request can be sent to; `flag` names the option that gave it.
pub fn checked(url: String, flag: &str) -> Result<String> {
    if ureq::http::Uri::try_from(url.as_str()).is_err() {
        bail!("{flag} {:?} is not a valid URL", redact(&url));
    }
    Ok(url)
}

/// The value of environment variable `var` (an API key), if set and not blank, without the
/// blanks around it; an error if it cannot be sent in an HTTP header.
pub fn key_from(var: &str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(key) if key.trim().is_empty() => Ok(None),
        Ok(key) if !key.trim().bytes().all(|b| b.is_ascii_graphic()) => {
            bail!("{var} holds characters that cannot be sent in an HTTP header")
        }
        Ok(key) => Ok(Some(key.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{var} is not valid UTF-8"),
    }
}

/// `url` without user information (`user:password@`), query string or fragment: what messages
/// show of a URL.
pub fn redact(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or_default();
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_messages_are_found_in_common_shapes() {
        for body in [
            json!({"Message": "bad model", "Code": 0}),
            json!({"error": {"message": "bad model", "type": "invalid_request_error"}}),
            json!({"error": {"type": "x", "reason": "bad model"}, "status": 400}),
            json!({"error": "bad model", "error_type": "Validation"}),
            json!({"status": {"error": "bad model"}, "time": 0.1}),
            json!({"object": "error", "message": "bad model"}),
            json!({"detail": "bad model"}),
        ] {
            assert_eq!(error_message(&body), Some("bad model"), "{body}");
        }
        assert_eq!(error_message(&json!({"data": []})), None);
    }

    #[test]
    fn urls_lose_credentials_queries_and_fragments() {
        assert_eq!(
            redact("https://u:sekrit@h.example/v1?key=sekrit#f"),
            "https://h.example/v1"
        );
        assert_eq!(redact("h.example:9200/x"), "h.example:9200/x");
    }

    #[test]
    fn retries_wait_then_give_up_with_the_last_reason() {
        let retry = Retry {
            attempts: 3,
            backoff: Duration::from_millis(1),
        };
        let mut tries = 0;
        let error = retry
            .run("http://h", || {
                tries += 1;
                Attempt::<()>::Again(format!("try {tries}"), None)
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "http://h: gave up after 3 attempts; the last: try 3");
        let mut tries = 0;
        let done = retry.run("http://h", || {
            tries += 1;
            if tries < 2 {
                Attempt::Again("not yet".into(), Some(Duration::ZERO))
            } else {
                Attempt::Done(tries)
            }
        });
        assert_eq!(done.unwrap(), 2);
    }
}
