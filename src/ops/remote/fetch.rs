//! An archive's blocks read over the network, as a [`BlockSource`]: from trustless HTTP
//! gateways (`GET /ipfs/{cid}?format=raw`), an IPFS node's RPC API (`block/get`) or a CARv2 on a
//! web server (range requests through its index), through a block cache.
//!
//! Every block is checked against its CID as it arrives; a source that sends a wrong block, a
//! block over 1 MiB, an error or nothing in time is passed over for the next, in the order given.
//! A source that failed every try for one block is not asked first again. Blocks asked for
//! together ([`BlockSource::prefetch`]) are fetched in parallel, a bounded number at a time.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use cid::Cid;
use indicatif::ProgressBar;
use ureq::http::{header, StatusCode};
use ureq::{Agent, Body};

use super::api::Api;
use crate::archive::block::{hash_matches, MAX_BLOCK_SIZE};
use crate::archive::cache::BlockCache;
use crate::archive::car::CarFile;
use crate::archive::source::BlockSource;
use crate::http::{self, Attempt, Limit, Retry};

/// How many bytes a remote archive is taken to hold at most, for the checks that bound what a
/// manifest may claim by the size of its source (a gateway does not say).
const REMOTE_SIZE: u64 = 1 << 40;

/// Where blocks can be fetched from.
#[derive(Clone)]
pub enum Origin {
    /// A trustless HTTP gateway: its base URL (without a trailing slash) and a client.
    Gateway(String, Agent, Limit),
    /// An IPFS node's RPC API.
    Api(Api),
    /// A CAR file read by ranges.
    Car(Arc<CarFile>),
}

impl Origin {
    /// The trustless gateway at `url`, each request allowed `limit`.
    pub fn gateway(url: &str, limit: Limit) -> Origin {
        Origin::Gateway(url.trim().trim_end_matches('/').to_string(), http::agent(limit), limit)
    }

    /// The origin's address, for messages.
    pub fn name(&self) -> &str {
        match self {
            Origin::Gateway(base, ..) => base,
            Origin::Api(api) => api.url(),
            Origin::Car(car) => car.name(),
        }
    }

    /// One try at block `cid`, not yet checked against it: `None` when the origin does not
    /// have it.
    fn attempt(&self, cid: &Cid) -> Attempt<Option<Vec<u8>>> {
        let (name, limit, sent) = match self {
            Origin::Gateway(base, agent, limit) => {
                let url = format!("{base}/ipfs/{cid}?format=raw");
                let request = agent.get(&url).header(header::ACCEPT, "application/vnd.ipld.raw");
                (base.as_str(), *limit, request.call())
            }
            Origin::Api(api) => (api.url(), api.limit(), api.block_request(cid)),
            Origin::Car(car) => {
                return match car.get(cid) {
                    Ok(data) => Attempt::Done(data),
                    Err(error) => Attempt::Failed(error),
                }
            }
        };
        match sent {
            Ok(response) => read_block(name, cid, response),
            Err(error) => http::transport(name, error, limit),
        }
    }
}

/// The block in a gateway's or node's answer, read only if it is at most 1 MiB.
fn read_block(name: &str, cid: &Cid, mut response: ureq::http::Response<Body>) -> Attempt<Option<Vec<u8>>> {
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Attempt::Done(None);
    }
    if http::is_transient(status) {
        return Attempt::Again(format!("HTTP {status}"), http::retry_after(&response));
    }
    if !status.is_success() {
        // Kubo's RPC answers 500 for a block it does not have; that is a 500, retried above.
        return Attempt::Failed(http::refused(name, response).context(format!("block {cid}")));
    }
    let claimed = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if claimed.is_some_and(|len| len > MAX_BLOCK_SIZE as u64) {
        return Attempt::Failed(anyhow!(
            "{name}: block {cid} is {} bytes; blocks are at most {MAX_BLOCK_SIZE}",
            claimed.unwrap_or_default()
        ));
    }
    let mut data = Vec::new();
    let cap = MAX_BLOCK_SIZE as u64 + 1;
    let read = response.body_mut().as_reader().take(cap).read_to_end(&mut data);
    match read {
        Err(error) => Attempt::Again(format!("reading block {cid}: {error}"), None),
        Ok(_) if data.len() as u64 == cap => {
            Attempt::Failed(anyhow!("{name}: block {cid} is larger than {MAX_BLOCK_SIZE} bytes"))
        }
        Ok(_) => Attempt::Done(Some(data)),
    }
}

/// What a fetcher has done, said when it is dropped.
#[derive(Debug, Default)]
struct Traffic {
    /// Requests sent, retries included.
    requests: AtomicU64,
    /// Bytes of blocks received.
    bytes: AtomicU64,
    /// Blocks found in the cache.
    cached: AtomicU64,
    /// Round trips: each batch of blocks fetched together, and each block fetched alone, but
    /// not one that starts while another is in flight (it overlaps that one: the link nodes of
    /// several collections, or the centroids with them, fetched at the same time).
    rounds: AtomicU64,
    /// Batches and blocks being fetched now.
    in_flight: AtomicUsize,
}

impl Traffic {
    /// Runs `fetch`, counting a round trip unless another is in flight.
    fn round<T>(&self, fetch: impl FnOnce() -> T) -> T {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.rounds.fetch_add(1, Ordering::Relaxed);
        }
        let out = fetch();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Blocks from origins, through a cache: a [`BlockSource`] for an archive elsewhere.
pub struct Fetcher {
    name: String,
    origins: Vec<Origin>,
    /// Whether each origin failed every try for some block.
    down: Vec<AtomicBool>,
    cache: Option<BlockCache>,
    /// Blocks fetched ahead (also kept in the cache, if any), each taken once, so that a block
    /// just fetched is not read back from the cache and hashed again.
    held: Mutex<HashMap<Cid, Vec<u8>>>,
    /// Blocks that could not be fetched ahead, and why.
    failed: Mutex<HashMap<Cid, String>>,
    jobs: usize,
    retry: Retry,
    size: u64,
    traffic: Traffic,
    bar: ProgressBar,
}

impl Fetcher {
    /// Blocks of the archive `name` from `origins`, tried in order, at most `jobs` at a time,
    /// kept in `cache`.
    pub fn new(name: &str, origins: Vec<Origin>, cache: Option<BlockCache>, jobs: usize, retry: Retry) -> Fetcher {
        let size = match origins.as_slice() {
            [Origin::Car(car)] => car.file_len(),
            _ => REMOTE_SIZE,
        };
        Fetcher {
            name: name.to_string(),
            down: origins.iter().map(|_| AtomicBool::new(false)).collect(),
            origins,
            cache,
            held: Mutex::default(),
            failed: Mutex::default(),
            jobs: jobs.max(1),
            retry,
            size,
            traffic: Traffic::default(),
            bar: crate::progress::bytes("fetch"),
        }
    }

    /// Block `cid` from the first origin that gives it sound, or an error naming each tried.
    fn fetch(&self, cid: &Cid) -> Result<Vec<u8>> {
        let mut order: Vec<usize> = (0..self.origins.len()).collect();
        order.sort_by_key(|&i| self.down[i].load(Ordering::Relaxed));
        let mut failures = Vec::new();
        for i in order {
            let origin = &self.origins[i];
            let name = origin.name();
            let fetched = self.retry.run(name, || {
                self.traffic.requests.fetch_add(1, Ordering::Relaxed);
                origin.attempt(cid)
            });
            match fetched {
                Ok(Some(data)) if hash_matches(cid, &data) => {
                    self.traffic.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    self.bar.inc(data.len() as u64);
                    return Ok(data);
                }
                Ok(Some(_)) => failures.push(format!("{name}: sent bytes that do not match the CID")),
                Ok(None) => failures.push(format!("{name}: does not have it")),
                Err(e) => {
                    self.down[i].store(true, Ordering::Relaxed);
                    failures.push(format!("{e:#}"));
                }
            }
        }
        bail!(
            "{}: block {cid}: no source gave it ({})",
            self.name,
            failures.join("; ")
        )
    }

    /// Block `cid`, fetched and then kept in the cache.
    fn fetch_and_keep(&self, cid: &Cid) -> Result<Vec<u8>> {
        let data = self.fetch(cid)?;
        if let Some(cache) = &self.cache {
            let _ = cache.put(cid, &data);
        }
        Ok(data)
    }
}

impl BlockSource for Fetcher {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn checks_hashes(&self) -> bool {
        true
    }

    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        if let Some(data) = self.held.lock().expect("not poisoned").remove(cid) {
            return Ok(Some(data));
        }
        if let Some(why) = self.failed.lock().expect("not poisoned").remove(cid) {
            return Err(anyhow!(why));
        }
        if let Some(data) = self.cache.as_ref().and_then(|cache| cache.get(cid)) {
            self.traffic.cached.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(data));
        }
        self.traffic.round(|| self.fetch_and_keep(cid)).map(Some)
    }

    fn prefetch(&self, cids: &[Cid]) {
        let cids: Vec<&Cid> = {
            let held = self.held.lock().expect("not poisoned");
            let cached = |cid| self.cache.as_ref().is_some_and(|cache| cache.has(cid));
            cids.iter()
                .filter(|cid| !held.contains_key(cid) && !cached(cid))
                .collect()
        };
        if cids.is_empty() {
            return;
        }
        let next = AtomicUsize::new(0);
        let work = || loop {
            let Some(&cid) = cids.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return;
            };
            match self.fetch_and_keep(cid) {
                Ok(data) => drop(self.held.lock().expect("not poisoned").insert(*cid, data)),
                Err(e) => drop(self.failed.lock().expect("not poisoned").insert(*cid, format!("{e:#}"))),
            }
        };
        self.traffic.round(|| {
            std::thread::scope(|scope| {
                for _ in 0..self.jobs.min(cids.len()) {
                    scope.spawn(work);
                }
            })
        });
    }
}

impl Drop for Fetcher {
    /// Clears the progress bar, says what was fetched and trims the cache to its limit (a
    /// failure to is said, and is not the command's).
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.trim() {
                crate::output::note(format_args!("vecar: {e:#}"));
            }
        }
        let t = &self.traffic;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        crate::progress::say(&format!(
            "{}: fetched {} bytes in {} requests, {} round trips; {} from the cache",
            self.name,
            load(&t.bytes),
            load(&t.requests),
            load(&t.rounds),
            crate::output::plural(load(&t.cached), "block")
        ));
    }
}
