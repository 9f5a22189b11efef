//! Where blocks come from: one small interface ([`BlockSource`]) that any store of blocks can
//! implement — a CAR file ([`CarFile`](super::car::CarFile)) first; a gateway, a node's RPC,
//! HTTP ranges or a cache next — and [`Blocks`], which checks every block a source returns
//! against its CID. No source is trusted: the hash is checked here, once, for all of them.

use std::sync::Arc;

use anyhow::{bail, Result};
use cid::Cid;

use super::block::hash_matches;

/// A store of blocks, read by CID. What it returns is not yet verified: [`Blocks`] does that.
pub trait BlockSource: Send + Sync {
    /// The source's name for messages: a file's path, a URL.
    fn name(&self) -> &str;

    /// How many bytes the source holds at most. What a manifest claims is checked against it,
    /// so that nothing read from the archive allocates more than the source can hold.
    fn size(&self) -> u64;

    /// The bytes stored under `cid`, not yet checked against it; `None` when the source does
    /// not hold the block.
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>>;

    /// Fills `buf` with the bytes stored under `cid`; `false` when the source does not hold
    /// the block, an error when it holds it with another length. A source that can read in
    /// place (a file) overrides this to save a copy.
    fn get_into(&self, cid: &Cid, buf: &mut [u8]) -> Result<bool> {
        copy_into(self.name(), cid, self.get(cid)?, buf)
    }

    /// Whether every block this source returns was already checked against its CID (a fetcher
    /// checks each block as it arrives, to move on from a source that lies); [`Blocks`] then
    /// does not hash it a second time.
    fn checks_hashes(&self) -> bool {
        false
    }

    /// Says that the blocks `cids` will be read soon, so that a source with a high latency
    /// (the network) can fetch them together. Nothing fails here: a block that cannot be
    /// fetched fails when it is read.
    fn prefetch(&self, _cids: &[Cid]) {}
}

/// Copies block `cid` (`data`, from source `name`; `None` if the source lacks it) into `buf`,
/// which must be exactly as long; `false` when there is no block.
pub fn copy_into(name: &str, cid: &Cid, data: Option<Vec<u8>>, buf: &mut [u8]) -> Result<bool> {
    let Some(data) = data else {
        return Ok(false);
    };
    check_len(name, cid, data.len() as u64, buf)?;
    buf.copy_from_slice(&data);
    Ok(true)
}

/// Checks that block `cid`, `len` bytes in source `name`, fits `buf`, which its link sized.
pub fn check_len(name: &str, cid: &Cid, len: u64, buf: &[u8]) -> Result<()> {
    if len != buf.len() as u64 {
        bail!("{name}: block {cid} is {len} bytes; its link says {}", buf.len());
    }
    Ok(())
}

/// The verified blocks of a source: every block is checked against its CID before it is
/// returned.
#[derive(Clone)]
pub struct Blocks {
    source: Arc<dyn BlockSource>,
}

impl Blocks {
    /// Reads verified blocks from `source`.
    pub fn new(source: Arc<dyn BlockSource>) -> Blocks {
        Blocks { source }
    }

    /// The source's name, for messages.
    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// How many bytes the source holds at most.
    pub fn size(&self) -> u64 {
        self.source.size()
    }

    /// Says that the blocks `cids` will be read soon (see [`BlockSource::prefetch`]).
    pub fn prefetch<'a>(&self, cids: impl IntoIterator<Item = &'a Cid>) {
        let cids: Vec<Cid> = cids.into_iter().copied().collect();
        if cids.len() > 1 {
            self.source.prefetch(&cids);
        }
    }

    /// The bytes of block `cid`, verified against its hash; an error when the source lacks it.
    pub fn get(&self, cid: &Cid) -> Result<Vec<u8>> {
        if self.source.checks_hashes() {
            return self.source.get(cid)?.ok_or_else(|| missing(self.name(), cid));
        }
        verified(&*self.source, cid)
    }

    /// Reads block `cid` into `buf`, which must be exactly as long as the block, and verifies
    /// it against its hash.
    pub fn get_into(&self, cid: &Cid, buf: &mut [u8]) -> Result<()> {
        if !self.source.get_into(cid, buf)? {
            return Err(missing(self.name(), cid));
        }
        if self.source.checks_hashes() {
            return Ok(());
        }
        check_hash(self.name(), cid, buf)
    }
}

/// The bytes of block `cid` from `source`, verified against its hash; an error when the source
/// lacks it.
pub fn verified(source: &dyn BlockSource, cid: &Cid) -> Result<Vec<u8>> {
    let data = source.get(cid)?.ok_or_else(|| missing(source.name(), cid))?;
    check_hash(source.name(), cid, &data)?;
    Ok(data)
}

fn missing(name: &str, cid: &Cid) -> anyhow::Error {
    anyhow::anyhow!("{name}: block {cid} is missing")
}

/// Checks the bytes `data` that the source `name` holds under `cid` against its hash.
fn check_hash(name: &str, cid: &Cid, data: &[u8]) -> Result<()> {
    if !hash_matches(cid, data) {
        bail!("{name}: block {cid} is corrupt (its sha2-256 does not match its CID)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::archive::block::{cid_for, RAW};

    /// Blocks held in memory, as a cache or a test would hold them.
    struct Memory(HashMap<Cid, Vec<u8>>);

    impl BlockSource for Memory {
        fn name(&self) -> &str {
            "memory"
        }

        fn size(&self) -> u64 {
            self.0.values().map(|data| data.len() as u64).sum()
        }

        fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
            Ok(self.0.get(cid).cloned())
        }
    }

    #[test]
    fn blocks_returns_what_matches_its_cid_and_refuses_what_does_not() {
        let (good, bad, gone) = (cid_for(RAW, b"good"), cid_for(RAW, b"bad"), cid_for(RAW, b"gone"));
        let source = Memory(HashMap::from([(good, b"good".to_vec()), (bad, b"BAD".to_vec())]));
        let blocks = Blocks::new(Arc::new(source));
        assert_eq!(blocks.get(&good).unwrap(), b"good");
        let mut buf = [0; 4];
        blocks.get_into(&good, &mut buf).unwrap();
        assert_eq!(&buf, b"good");
        let error = |result: Result<_>| format!("{:#}", result.err().expect("an error"));
        assert!(error(blocks.get(&bad).map(drop)).contains("is corrupt"));
        assert!(error(blocks.get_into(&bad, &mut [0; 3])).contains("is corrupt"));
        assert!(error(blocks.get_into(&good, &mut [0; 5])).contains("is 4 bytes; its link says 5"));
        assert_eq!(
            error(blocks.get(&gone).map(drop)),
            format!("memory: block {gone} is missing")
        );
    }
}
