//! The OpenAI-compatible HTTP provider: `POST /v1/embeddings` as served by Ollama, llama.cpp's
//! server, vLLM, Hugging Face TEI, OpenRouter and OpenAI.
//!
//! Each request sends `{"model": NAME, "input": [texts...], "encoding_format": "float"}` for at
//! most [`BATCH`] texts and reads `{"data": [{"index": i, "embedding": [...]}, ...]}`, placing
//! answers by `index` (servers may reorder them). 429 and 5xx answers, failed connections and
//! timeouts are retried with exponential backoff (honouring `Retry-After` in seconds); any other
//! failure is reported at once with the status and the start of the server's message.
//!
//! The API key, read from VECAR_API_KEY, is sent as `Authorization: Bearer KEY` and never
//! appears in an error: messages show the URL without user information or query string, and any
//! echo of the key in a server's message is masked.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use ureq::http::header;
use ureq::Agent;

use super::{Embedder, EmbeddingInfo, TextError};
use crate::http::{self, agent, checked, error_message, key_from, one_line, redact, Attempt, Limit, Retry, Url};
use crate::input::{json_type, parse_vector};

/// Most texts sent in one request.
pub const BATCH: usize = 64;
/// Time allowed for one whole request, from connecting to reading the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read (64 vectors of 4096 numbers as JSON are about 6 MB).
const MAX_ANSWER: u64 = 256 << 20;
/// The environment variable holding the API key.
const KEY_VAR: &str = "VECAR_API_KEY";

/// An OpenAI-compatible embeddings endpoint.
pub struct Endpoint {
    /// Where requests go.
    url: String,
    /// `url` without user information or query string, for messages.
    shown: String,
    model: String,
    key: Option<String>,
    agent: Agent,
    /// The time allowed for each whole request.
    timeout: Duration,
    retry: Retry,
    dimensions: Option<u64>,
}

impl Endpoint {
    /// The endpoint at `url`, asking for `model`; the API key, if any, comes from VECAR_API_KEY.
    ///
    /// `url` is an `http://` or `https://` URL. One whose path ends in `/embeddings` is used as
    /// given; one without a path gets `/v1/embeddings`; any other path (typically a base ending
    /// in `/v1`) gets `/embeddings` appended. So `http://127.0.0.1:8080/v1`,
    /// `http://127.0.0.1:8080` and `http://127.0.0.1:8080/v1/embeddings` all name
    /// `http://127.0.0.1:8080/v1/embeddings`. A query string is kept.
    pub fn new(url: &str, model: &str) -> Result<Endpoint> {
        let (url, shown) = resolve(url)?;
        if model.trim().is_empty() {
            bail!("--model is empty: give the model name the endpoint {shown} should use");
        }
        let key = key_from(KEY_VAR)?;
        Endpoint {
            url,
            shown,
            model: model.to_string(),
            key: None,
            agent: agent(Limit::Whole(REQUEST_TIMEOUT)),
            timeout: REQUEST_TIMEOUT,
            retry: Retry::default(),
            dimensions: None,
        }
        .with_api_key(key.as_deref())
    }

    /// Uses `key` as the API key instead of VECAR_API_KEY's (none if `None` or empty).
    pub fn with_api_key(mut self, key: Option<&str>) -> Result<Endpoint> {
        let key = key.map(str::trim).filter(|k| !k.is_empty());
        if let Some(key) = key {
            if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                bail!("{KEY_VAR} holds characters that cannot be sent in an HTTP header");
            }
        }
        self.key = key.map(str::to_string);
        Ok(self)
    }

    /// Waits `base` before the first retry (doubling for each later one) instead of 0.5 s.
    pub fn with_backoff(mut self, base: Duration) -> Endpoint {
        self.retry.backoff = base;
        self
    }

    /// Allows `limit` for each whole request (and for connecting, if less) instead of 120 s.
    pub fn with_timeout(mut self, limit: Duration) -> Endpoint {
        self.agent = agent(Limit::Whole(limit));
        self.timeout = limit;
        self
    }

    /// Vectors for at most [`BATCH`] texts, the first being text `offset` of the caller's.
    fn embed_batch(&mut self, texts: &[String], offset: usize) -> Result<Vec<Vec<f32>>> {
        let body = json!({ "model": self.model, "input": texts, "encoding_format": "float" });
        let answer = self.post(&serde_json::to_vec(&body)?)?;
        self.read_answer(&answer, texts.len(), offset)
    }

    /// Sends `body`, retrying as the module documentation says; the answer's body.
    fn post(&self, body: &[u8]) -> Result<Vec<u8>> {
        self.retry.run(&self.shown, || self.attempt(body))
    }

    /// One try at sending `body`.
    fn attempt(&self, body: &[u8]) -> Attempt<Vec<u8>> {
        let mut request = self
            .agent
            .post(&self.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(key) = &self.key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let limit = Limit::Whole(self.timeout);
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => return http::transport(&self.shown, error, limit),
        };
        let status = response.status();
        let answer = match response.body_mut().with_config().limit(MAX_ANSWER).read_to_vec() {
            Ok(answer) => answer,
            Err(error) => return http::transport(&self.shown, error, limit),
        };
        if status.is_success() {
            return Attempt::Done(answer);
        }
        let why = format!("HTTP {status}: {}", self.snippet(&answer));
        if http::is_transient(status) {
            return Attempt::Again(why, http::retry_after(&response));
        }
        let hint = if status.is_redirection() {
            let to = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
            format!(
                " (redirects are not followed: give the URL it points to, {})",
                redact(to.unwrap_or("?"))
            )
        } else {
            String::new()
        };
        Attempt::Failed(anyhow!("{}: {why}{hint}", self.shown))
    }

    /// Reads an answer for `count` texts, the first being text `offset` of the caller's.
    fn read_answer(&mut self, answer: &[u8], count: usize, offset: usize) -> Result<Vec<Vec<f32>>> {
        let shown = &self.shown;
        let value: Value = serde_json::from_slice(answer)
            .map_err(|e| anyhow!("{shown}: the answer is not valid JSON ({e}): {}", self.snippet(answer)))?;
        let data = match value.get("data") {
            Some(Value::Array(data)) => data,
            Some(other) => bail!("{shown}: the answer's \"data\" is {}, not an array", json_type(other)),
            None => match error_message(&value) {
                Some(message) => bail!("{shown}: the server answered with an error: {}", self.masked(message)),
                None => bail!("{shown}: the answer has no \"data\": {}", self.snippet(answer)),
            },
        };
        if data.len() > count {
            bail!("{shown}: the answer holds {} embeddings for {count} texts", data.len());
        }
        let mut slots: Vec<Option<&Value>> = vec![None; count];
        for (position, item) in data.iter().enumerate() {
            if !item.is_object() {
                bail!(
                    "{shown}: the answer's data[{position}] is {}, not an object",
                    json_type(item)
                );
            }
            let index = match item.get("index") {
                None => position,
                Some(v) => match v.as_u64().and_then(|i| usize::try_from(i).ok()) {
                    Some(i) if i < count => i,
                    _ => bail!("{shown}: the answer's data[{position}].index is {v}, not an index below {count}"),
                },
            };
            if slots[index].replace(item).is_some() {
                bail!("{shown}: the answer holds index {index} more than once");
            }
        }
        let mut vectors = Vec::with_capacity(count);
        for (index, slot) in slots.into_iter().enumerate() {
            let at = |message: String| TextError {
                index: offset + index,
                message: format!("{shown}: {message}"),
            };
            let Some(item) = slot else {
                return Err(at("the answer holds no embedding for this text".into()).into());
            };
            let Some(embedding) = item.get("embedding") else {
                return Err(at("the answer's item for this text has no \"embedding\"".into()).into());
            };
            let vector = parse_vector(embedding, "the embedding").map_err(at)?;
            let length = vector.len() as u64;
            match self.dimensions {
                Some(d) if d != length => {
                    return Err(at(format!("the embedding has {length} numbers where others have {d}")).into())
                }
                _ => self.dimensions = Some(length),
            }
            vectors.push(vector);
        }
        Ok(vectors)
    }

    /// The start of a server's message: the error message of a JSON body, else the body itself,
    /// on one line, with the API key masked.
    fn snippet(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| error_message(&v).map(str::to_string))
            .unwrap_or_else(|| text.into_owned());
        let message = one_line(&self.masked(&message));
        if message.is_empty() {
            "(no message)".into()
        } else {
            message
        }
    }

    /// `text` with the API key, if it appears, replaced by `***`.
    fn masked(&self, text: &str) -> String {
        match &self.key {
            Some(key) => text.replace(key.as_str(), "***"),
            None => text.to_string(),
        }
    }
}

impl Embedder for Endpoint {
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(texts.len());
        for (n, batch) in texts.chunks(BATCH).enumerate() {
            vectors.extend(self.embed_batch(batch, n * BATCH)?);
        }
        Ok(vectors)
    }

    fn info(&self) -> EmbeddingInfo {
        EmbeddingInfo {
            provider: "http".into(),
            model: self.model.clone(),
            dimensions: self.dimensions,
            weights: None,
        }
    }
}

/// The request URL for `--endpoint url` (see [`Endpoint::new`]) and the URL to show in messages.
fn resolve(url: &str) -> Result<(String, String)> {
    let url = Url::parse(url, "--endpoint")?;
    let path = url.path.trim_end_matches('/');
    let path = if path.ends_with("/embeddings") {
        path.to_string()
    } else if path.is_empty() {
        "/v1/embeddings".to_string()
    } else {
        format!("{path}/embeddings")
    };
    let authority = match url.user {
        Some(user) => format!("{user}@{}", url.host),
        None => url.host.to_string(),
    };
    let full = match url.query {
        Some(query) => format!("{}://{authority}{path}?{query}", url.scheme),
        None => format!("{}://{authority}{path}", url.scheme),
    };
    let full = checked(full, "--endpoint")?;
    let shown = redact(&full);
    Ok((full, shown))
}

#[cfg(test)]
mod against_server;

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(url: &str) -> String {
        resolve(url).unwrap().0
    }

    #[test]
    fn urls_get_the_embeddings_path() {
        let full = "http://127.0.0.1:8080/v1/embeddings";
        assert_eq!(resolved("http://127.0.0.1:8080/v1"), full);
        assert_eq!(resolved("http://127.0.0.1:8080/v1/"), full);
        assert_eq!(resolved("http://127.0.0.1:8080"), full);
        assert_eq!(resolved("http://127.0.0.1:8080/"), full);
        assert_eq!(resolved(full), full);
        assert_eq!(
            resolved(" https://api.openai.com/v1/embeddings/ "),
            "https://api.openai.com/v1/embeddings"
        );
        assert_eq!(
            resolved("https://openrouter.ai/api/v1"),
            "https://openrouter.ai/api/v1/embeddings"
        );
        assert_eq!(
            resolved("https://h.example/x/v1?api-version=2#frag"),
            "https://h.example/x/v1/embeddings?api-version=2"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_credentials() {
        for url in [
            "127.0.0.1:8080/v1",
            "ftp://h/v1",
            "http:///v1",
            "http://user:sekrit@/v1",
        ] {
            let error = resolve(url).unwrap_err().to_string();
            assert!(!error.contains("sekrit"), "{error}");
        }
        assert_eq!(
            resolve("https://user:sekrit@h.example/v1?key=sekrit").unwrap().1,
            "https://h.example/v1/embeddings"
        );
    }
}
