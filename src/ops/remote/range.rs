//! A CAR file on a web server, read by HTTP range requests (`Range: bytes=A-B`, answered by
//! `206 Partial Content`): its first 64 KiB once, which hold the headers, then one request per
//! read (the CARv2 index, then each block with its section head).

use std::time::Duration;

use anyhow::{anyhow, Result};
use ureq::http::{header, StatusCode};
use ureq::Agent;

use crate::archive::bytes::ReadAt;
use crate::http::{self, agent, redact, Attempt, Limit, Retry};

/// Bytes asked for when the file is opened: the CARv2 pragma and header, and the CARv1 header.
const HEAD_LEN: u64 = 64 * 1024;
/// The largest single read: a CARv2 index of a few million blocks.
const MAX_READ: u64 = 256 << 20;

/// A file at an `http://` or `https://` URL, read by ranges.
pub struct HttpRange {
    url: String,
    /// The URL without credentials or query, for messages.
    shown: String,
    agent: Agent,
    limit: Limit,
    retry: Retry,
    size: u64,
    /// The file's first bytes.
    head: Vec<u8>,
}

impl HttpRange {
    /// Opens the file at `url`, each request allowed `timeout`: asks for its first bytes and
    /// learns its size from the answer. A server that does not answer ranges is refused.
    pub fn open(url: &str, timeout: Duration, retry: Retry) -> Result<HttpRange> {
        let limit = Limit::Whole(timeout);
        let mut file = HttpRange {
            url: url.to_string(),
            shown: redact(url),
            agent: agent(limit),
            limit,
            retry,
            size: 0,
            head: Vec::new(),
        };
        let (head, size) = file.retry.run(&file.shown, || file.range(0, HEAD_LEN))?;
        (file.head, file.size) = (head, size);
        Ok(file)
    }

    /// One try at bytes `start..start + len` (fewer at the end of the file); with the file's
    /// size from `Content-Range`.
    fn range(&self, start: u64, len: u64) -> Attempt<(Vec<u8>, u64)> {
        let shown = &self.shown;
        let last = start + len - 1;
        let request = self
            .agent
            .get(&self.url)
            .header(header::RANGE, format!("bytes={start}-{last}"))
            .header(header::ACCEPT_ENCODING, "identity");
        let mut response = match request.call() {
            Ok(response) => response,
            Err(error) => return http::transport(shown, error, self.limit),
        };
        let status = response.status();
        if http::is_transient(status) {
            return Attempt::Again(format!("HTTP {status}"), http::retry_after(&response));
        }
        if status == StatusCode::OK {
            return Attempt::Failed(anyhow!(
                "{shown}: the server does not answer range requests (it sent the whole file for bytes \
                 {start}-{last}); vecar reads a CAR from a URL by ranges and does not download it whole: \
                 serve it from a server that honours Range (most static file servers do), or fetch it \
                 and give its path"
            ));
        }
        if status != StatusCode::PARTIAL_CONTENT {
            return Attempt::Failed(http::refused(shown, response));
        }
        let Some((first, end, size)) = content_range(&response) else {
            return Attempt::Failed(anyhow!("{shown}: a 206 answer without a valid Content-Range"));
        };
        let expected = len.min(size.saturating_sub(start));
        if first != start || end - first + 1 != expected {
            return Attempt::Failed(anyhow!(
                "{shown}: asked for bytes {start}-{last}, the server sent {first}-{end}"
            ));
        }
        match response.body_mut().with_config().limit(expected).read_to_vec() {
            Ok(data) if data.len() as u64 == expected => Attempt::Done((data, size)),
            Ok(data) => Attempt::Again(
                format!("the answer for bytes {start}-{last} ended after {} bytes", data.len()),
                None,
            ),
            Err(error) => http::transport(shown, error, self.limit),
        }
    }
}

/// `Content-Range: bytes FIRST-LAST/SIZE`.
fn content_range<B>(response: &ureq::http::Response<B>) -> Option<(u64, u64, u64)> {
    let value = response.headers().get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, size) = (first.parse().ok()?, last.parse().ok()?, size.parse().ok()?);
    (first <= last && last < size).then_some((first, last, size))
}

impl ReadAt for HttpRange {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let len = buf.len() as u64;
        let end = offset.checked_add(len).filter(|&end| end <= self.size);
        if end.is_none() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if len == 0 {
            return Ok(());
        }
        if let Some(bytes) = self.head.get(offset as usize..).and_then(|rest| rest.get(..buf.len())) {
            buf.copy_from_slice(bytes);
            return Ok(());
        }
        if len > MAX_READ {
            return Err(std::io::Error::other(format!(
                "a read of {len} bytes is more than vecar asks a server for"
            )));
        }
        let read = self.retry.run(&self.shown, || self.range(offset, len));
        let (data, _) = read.map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        if data.len() != buf.len() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&data);
        Ok(())
    }
}
