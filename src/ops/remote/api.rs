//! An IPFS node's RPC API (Kubo's `/api/v0`, which other nodes follow): where to find it, and
//! the calls vecar makes: `dag/import`, `dag/export`, `block/get` and `block/stat`.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cid::Cid;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use ureq::http::{header, Response};
use ureq::{Agent, Body, SendBody};

use super::IDLE;
use crate::http::{agent, failure, one_line, refused, Limit};

/// Where Kubo's clients look when no repo file names an API.
const DEFAULT_API: &str = "http://127.0.0.1:5001";
/// The most of an import report read (one line per root, one of stats).
const MAX_REPORT: u64 = 1 << 20;

/// An IPFS node's RPC API.
#[derive(Clone)]
pub struct Api {
    /// `http://host:port`, without a trailing slash.
    base: String,
    agent: Agent,
    limit: Limit,
}

/// What a node reported after importing a CAR.
#[derive(Debug, Default)]
pub struct Imported {
    /// Each root it saw in the CAR's header, with the message of the pin that failed, if any
    /// (only when pinning was asked for).
    pub roots: Vec<(String, String)>,
    /// Blocks the node read from the CAR, when it says: Kubo does (`stats=true`), js-ipfs 0.66
    /// ignores that argument and reports only the roots.
    pub blocks: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReportLine {
    root: Option<RootLine>,
    stats: Option<StatsLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RootLine {
    cid: CidLink,
    #[serde(default)]
    pin_error_msg: String,
}

#[derive(Deserialize)]
struct CidLink {
    #[serde(rename = "/")]
    cid: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatsLine {
    block_count: u64,
}

impl Api {
    /// The API at `address` (an `http://` URL or a multiaddr such as `/ip4/127.0.0.1/tcp/5001`);
    /// without one, the multiaddr in the local repo's `api` file (`$IPFS_PATH/api`, else
    /// `~/.ipfs/api`), as Kubo's own clients find it; else `http://127.0.0.1:5001`.
    pub fn locate(address: Option<&str>) -> Result<Api> {
        let base = match address {
            Some(address) => base_url(address).with_context(|| format!("--api {address:?}"))?,
            None => match repo_api_file() {
                Some(file) if file.exists() => {
                    let text =
                        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                    base_url(text.trim()).with_context(|| file.display().to_string())?
                }
                _ => DEFAULT_API.to_string(),
            },
        };
        Ok(Api {
            base,
            agent: agent(IDLE),
            limit: IDLE,
        })
    }

    /// Gives each request `limit` instead of the time a whole archive takes to stream.
    pub fn with_limit(mut self, limit: Limit) -> Api {
        (self.agent, self.limit) = (agent(limit), limit);
        self
    }

    /// The time each request is allowed.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// The API's address, for messages.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Imports the CAR file at `path` (`dag/import`), pinning its root if `pin`, and returns the
    /// node's report. The file is streamed as a multipart form, never held in memory.
    pub fn import(&self, path: &Path, pin: bool) -> Result<Imported> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let boundary = boundary(path)?;
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"archive.car\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let length = head.len() as u64 + file.metadata()?.len() + tail.len() as u64;
        let body = Cursor::new(head).chain(file).chain(Cursor::new(tail));
        let url = format!("{}/api/v0/dag/import?pin-roots={pin}&stats=true", self.base);
        let response = self
            .agent
            .post(&url)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::CONTENT_LENGTH, length)
            .send(SendBody::from_owned_reader(body))
            .map_err(|e| failure(&self.base, e, self.limit))?;
        if !response.status().is_success() {
            return Err(refused(&self.base, response));
        }
        let mut text = String::new();
        response
            .into_body()
            .into_with_config()
            .limit(MAX_REPORT)
            .reader()
            .read_to_string(&mut text)
            .with_context(|| format!("{}: reading the node's report", self.base))?;
        let mut imported = Imported::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line: ReportLine = serde_json::from_str(line)
                .with_context(|| format!("{}: unexpected report from the node: {}", self.base, one_line(line)))?;
            if let Some(root) = line.root {
                imported.roots.push((root.cid.cid, root.pin_error_msg));
            }
            if let Some(stats) = line.stats {
                imported.blocks = Some(stats.block_count);
            }
        }
        Ok(imported)
    }

    /// A CAR of the whole DAG under `cid` (`dag/export`), as the node streams it.
    pub fn export(&self, cid: &Cid) -> Result<impl Read> {
        let url = format!("{}/api/v0/dag/export?arg={cid}&progress=false", self.base);
        let response = self
            .agent
            .post(&url)
            .send_empty()
            .map_err(|e| failure(&self.base, e, self.limit))?;
        if !response.status().is_success() {
            return Err(refused(&self.base, response));
        }
        Ok(response.into_body().into_with_config().limit(u64::MAX).reader())
    }

    /// Sends `block/get` for `cid`: the answer's body is the block's bytes.
    pub fn block_request(&self, cid: &Cid) -> Result<Response<Body>, ureq::Error> {
        let url = format!("{}/api/v0/block/get?arg={cid}", self.base);
        self.agent.post(&url).send_empty()
    }

    /// Checks that the node holds block `cid` (`block/stat`, offline: it must not go looking).
    pub fn check_has(&self, cid: &Cid) -> Result<()> {
        let url = format!("{}/api/v0/block/stat?arg={cid}&offline=true", self.base);
        let response = self
            .agent
            .post(&url)
            .send_empty()
            .map_err(|e| failure(&self.base, e, self.limit))?;
        if !response.status().is_success() {
            return Err(refused(&self.base, response).context(format!("the node does not hold {cid}")));
        }
        Ok(())
    }
}

/// `$IPFS_PATH/api`, else `~/.ipfs/api`.
fn repo_api_file() -> Option<PathBuf> {
    let repo = match std::env::var_os("IPFS_PATH") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".ipfs"),
    };
    Some(repo.join("api"))
}

/// `http://host:port` for an `http(s)://` URL or a TCP multiaddr (`/ip4/H/tcp/P`, `/ip6/H/tcp/P`,
/// `/dns/H/tcp/P`, `/dns4/..`, `/dns6/..`, optionally ending in `/http` or `/https`).
fn base_url(address: &str) -> Result<String> {
    let address = address.trim();
    if address.starts_with("http://") || address.starts_with("https://") {
        let base = address.trim_end_matches('/');
        if ureq::http::Uri::try_from(base).is_err() {
            bail!("not a valid URL");
        }
        return Ok(base.to_string());
    }
    let parts: Vec<&str> = address.split('/').collect();
    let scheme = match parts.get(5).copied() {
        None => "http",
        Some(s @ ("http" | "https")) if parts.len() == 6 => s,
        _ => bail!("not an http:// URL or a TCP multiaddr such as /ip4/127.0.0.1/tcp/5001"),
    };
    match parts[..parts.len().min(5)] {
        ["", "ip4" | "dns" | "dns4" | "dns6", host, "tcp", port] if port.parse::<u16>().is_ok() => {
            Ok(format!("{scheme}://{host}:{port}"))
        }
        ["", "ip6", host, "tcp", port] if port.parse::<u16>().is_ok() => Ok(format!("{scheme}://[{host}]:{port}")),
        _ => bail!("not an http:// URL or a TCP multiaddr such as /ip4/127.0.0.1/tcp/5001"),
    }
}

/// A multipart boundary that no file's bytes will happen to contain: a hash of the file's name,
/// the time and the process.
fn boundary(path: &Path) -> Result<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let seed = format!("{}\0{}\0{}", path.display(), now.as_nanos(), std::process::id());
    let digest = Sha256::digest(seed.as_bytes());
    Ok(format!(
        "vecar-{}",
        digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_addresses_are_urls_or_tcp_multiaddrs() {
        for (address, base) in [
            ("/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001"),
            ("/ip4/127.0.0.1/tcp/5001/http", "http://127.0.0.1:5001"),
            ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
            ("/dns4/node.example/tcp/443/https", "https://node.example:443"),
            ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
            (" https://node.example \n", "https://node.example"),
        ] {
            assert_eq!(base_url(address).unwrap(), base, "{address}");
        }
        for address in [
            "/unix/tmp/api.sock",
            "/ip4/127.0.0.1/udp/5001",
            "/ip4/127.0.0.1/tcp/99999",
            "127.0.0.1:5001",
            "/ip4/1.2.3.4/tcp/1/http/x",
        ] {
            assert!(base_url(address).is_err(), "{address}");
        }
    }
}
