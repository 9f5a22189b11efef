//! Opening an archive wherever it is: a CAR file (`-` for standard input), `ipfs://CID` or a
//! bare CID (blocks from trustless gateways or an IPFS node), or the `http://`/`https://` URL of
//! a CARv2 (blocks by range requests through its index). Remote blocks go through a block cache
//! and are verified like a file's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use cid::Cid;
use tempfile::TempDir;

use super::remote::api::Api;
use super::remote::fetch::{Fetcher, Origin};
use super::remote::range::HttpRange;
use crate::archive::block::DAG_CBOR;
use crate::archive::cache::BlockCache;
use crate::archive::car::CarFile;
use crate::archive::listing::{self, Entry};
use crate::archive::read::{Ahead, Archive};
use crate::archive::source::BlockSource;
use crate::http::{Limit, Retry};

/// Where remote archives are read from, and how.
#[derive(Clone, Debug)]
pub struct Network {
    /// Trustless gateways' base URLs, tried in order.
    pub gateways: Vec<String>,
    /// An IPFS node's RPC API, tried after the gateways; with neither, the local node's.
    pub api: Option<String>,
    /// The block cache's directory; `None` for no cache.
    pub cache: Option<PathBuf>,
    /// The most bytes of blocks the cache keeps: after a command that kept blocks, the least
    /// recently used go.
    pub cache_max: u64,
    /// Blocks fetched at once.
    pub jobs: usize,
    /// Time allowed for each request.
    pub timeout: Duration,
}

/// Tries per request to one source, and the wait before the second.
const RETRY: Retry = Retry {
    attempts: 3,
    backoff: Duration::from_millis(200),
};

/// Where an archive is.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// A CAR file (`-`: standard input).
    File(PathBuf),
    /// An archive on IPFS, by its root CID.
    Ipfs(Cid),
    /// A CAR file on a web server.
    Url(String),
}

/// `text` as a CID; else an error saying what one looks like (the cid crate's reason, such as
/// "Failed to parse multihash", means nothing to someone who typed a placeholder).
pub fn parse_cid(text: &str) -> Result<Cid> {
    Cid::try_from(text).map_err(|_| {
        anyhow!("{text:?} is not a CID: a root CID looks like bafyrei... (vecar build and vecar root print it)")
    })
}

impl Place {
    /// Reads an archive argument: `ipfs://CID`, an `http(s)://` URL, a CID that names no file
    /// here, else a file's path.
    pub fn of(arg: &Path) -> Result<Place> {
        let Some(text) = arg.to_str() else {
            return Ok(Place::File(arg.to_path_buf()));
        };
        if let Some(rest) = text.strip_prefix("ipfs://") {
            let cid = rest.trim_end_matches('/');
            return Ok(Place::Ipfs(parse_cid(cid).with_context(|| text.to_string())?));
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Place::Url(text.to_string()));
        }
        match Cid::try_from(text) {
            Ok(cid) if !arg.exists() => Ok(Place::Ipfs(cid)),
            _ => Ok(Place::File(arg.to_path_buf())),
        }
    }
}

/// An open archive and what it is read from.
pub struct Opened {
    /// The archive.
    pub archive: Archive,
    /// The CAR file, when it is one (local, or on a web server).
    pub car: Option<Arc<CarFile>>,
    /// The fetcher, when the archive is remote: what it fetched.
    pub fetcher: Option<Arc<Fetcher>>,
}

impl Opened {
    /// The CAR file the archive's blocks are the sections of: a local file's (a file on a web
    /// server is read only through its index).
    pub fn file(&self) -> Option<&CarFile> {
        self.car.as_deref().filter(|_| self.fetcher.is_none())
    }

    /// Every block of the archive, with its size and role (see [`listing::list`]).
    pub fn listing(&self) -> Result<Vec<Entry>> {
        listing::list(&self.archive, self.file())
    }
}

/// Opens the archive at `arg` (see [`Place::of`]), reading remote ones as `network` says and
/// asking for what `ahead` says with their link nodes.
pub fn open(arg: &Path, network: &Network, ahead: Ahead) -> Result<Opened> {
    match Place::of(arg)? {
        Place::File(path) => {
            let (archive, car) = Archive::open_car(&path)?;
            Ok(Opened {
                archive,
                car: Some(car),
                fetcher: None,
            })
        }
        Place::Ipfs(root) => {
            let name = format!("ipfs://{root}");
            if root.codec() != DAG_CBOR {
                bail!("{name}: not a vecar archive (its root is not a DAG-CBOR block)");
            }
            let fetcher = Arc::new(network.fetcher(&name, network.ipfs_origins()?));
            let archive = Archive::from_source(fetcher.clone(), root, ahead)?;
            Ok(Opened {
                archive,
                car: None,
                fetcher: Some(fetcher),
            })
        }
        Place::Url(url) => {
            let car = remote_car(&url, network)?;
            let root = *car.root();
            let fetcher = Arc::new(network.fetcher(car.name(), vec![Origin::Car(car.clone())]));
            let archive = Archive::from_source(fetcher.clone(), root, ahead)?;
            Ok(Opened {
                archive,
                car: Some(car),
                fetcher: Some(fetcher),
            })
        }
    }
}

/// The CAR file at `url`, read by ranges.
fn remote_car(url: &str, network: &Network) -> Result<Arc<CarFile>> {
    let range = HttpRange::open(url, network.timeout, RETRY)?;
    Ok(Arc::new(CarFile::open_remote(
        &crate::http::redact(url),
        Box::new(range),
    )?))
}

/// The root CID of the archive at `arg`: a CAR's header's (a URL's is read by ranges); for
/// `ipfs://CID`, the CID, once its manifest is found to be an archive's.
pub fn root_of(arg: &Path, network: &Network) -> Result<Cid> {
    match Place::of(arg)? {
        Place::File(path) => Ok(*CarFile::open(&path)?.root()),
        Place::Url(url) => Ok(*remote_car(&url, network)?.root()),
        Place::Ipfs(_) => Ok(open(arg, network, Ahead::Nothing)?.archive.root),
    }
}

/// Opens the archive at `arg` (see [`open`]) and gives the archive alone.
pub fn open_archive(arg: &Path, network: &Network, ahead: Ahead) -> Result<Archive> {
    Ok(open(arg, network, ahead)?.archive)
}

impl Network {
    /// Where IPFS blocks come from: the gateways, then the node; with neither, the local node
    /// (as `vecar push` finds it).
    fn ipfs_origins(&self) -> Result<Vec<Origin>> {
        let limit = Limit::Whole(self.timeout);
        let mut origins: Vec<Origin> = self.gateways.iter().map(|url| Origin::gateway(url, limit)).collect();
        if self.api.is_some() || origins.is_empty() {
            let api = Api::locate(self.api.as_deref())?.with_limit(limit);
            origins.push(Origin::Api(api));
        }
        Ok(origins)
    }

    /// This network with a block cache for work that reads the blocks of the remote archives
    /// among `args` twice (a walk, then the checks; the records for their sizes, then for the
    /// rows): the user's, else a temporary directory, removed when the [`TempDir`] returned with
    /// it is dropped. With no remote archive among `args`, or no temporary directory to be had
    /// (blocks are then fetched twice), the network is as it was.
    pub fn keeping_blocks(&self, args: &[&Path]) -> (Network, Option<TempDir>) {
        let remote = |arg: &&Path| !matches!(Place::of(arg), Ok(Place::File(_)));
        if self.cache.is_some() || !args.iter().any(remote) {
            return (self.clone(), None);
        }
        let Ok(temporary) = tempfile::tempdir() else {
            return (self.clone(), None);
        };
        let network = Network {
            cache: Some(temporary.path().to_path_buf()),
            cache_max: u64::MAX,
            ..self.clone()
        };
        (network, Some(temporary))
    }

    fn fetcher(&self, name: &str, origins: Vec<Origin>) -> Fetcher {
        let cache = self.cache.as_deref().map(|dir| BlockCache::new(dir, self.cache_max));
        Fetcher::new(name, origins, cache, self.jobs, RETRY)
    }
}

/// The default cache directory: `$XDG_CACHE_HOME/vecar`, else `~/.cache/vecar`.
pub fn default_cache_dir() -> Result<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join("vecar")),
        None => {
            let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set: give --cache DIR")?;
            Ok(PathBuf::from(home).join(".cache").join("vecar"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_told_apart() {
        let cid = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
        let at = |s: &str| Place::of(Path::new(s)).unwrap();
        assert_eq!(at(&format!("ipfs://{cid}")), Place::Ipfs(cid.parse().unwrap()));
        assert_eq!(at(&format!("ipfs://{cid}/")), Place::Ipfs(cid.parse().unwrap()));
        assert_eq!(at(cid), Place::Ipfs(cid.parse().unwrap()));
        assert_eq!(at("http://h/x.car"), Place::Url("http://h/x.car".into()));
        assert_eq!(at("docs.car"), Place::File("docs.car".into()));
        assert_eq!(at("-"), Place::File("-".into()));
        assert!(Place::of(Path::new("ipfs://nope")).is_err());
    }
}
