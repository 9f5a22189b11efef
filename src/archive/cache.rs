//! A directory of verified blocks kept by CID, so that a block fetched over the network once is
//! not fetched again. Blocks are content-addressed: a cached block never goes stale. Each block
//! is one file, `blocks/<last two characters of its CID>/<CID>`, written to a temporary file
//! and renamed into place, so a reader never sees half a block; a file that does not match its
//! CID (a disk error, a hand edit) is dropped and counts as absent.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cid::Cid;

use super::block::{hash_matches, MAX_BLOCK_SIZE};

/// A block cache in a directory.
pub struct BlockCache {
    dir: PathBuf,
}

/// What a cache holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blocks kept.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl BlockCache {
    /// The cache in `dir` (created when the first block is kept).
    pub fn new(dir: &Path) -> BlockCache {
        BlockCache { dir: dir.to_path_buf() }
    }

    fn path(&self, cid: &Cid) -> PathBuf {
        let name = cid.to_string();
        let shard = &name[name.len().saturating_sub(2)..];
        self.dir.join("blocks").join(shard).join(name)
    }

    /// Whether the cache has a file for block `cid` (not yet checked).
    pub fn has(&self, cid: &Cid) -> bool {
        self.path(cid).exists()
    }

    /// The bytes of block `cid`, verified against it; `None` when the cache does not hold it,
    /// or held it corrupt (the file is then removed).
    pub fn get(&self, cid: &Cid) -> Option<Vec<u8>> {
        let path = self.path(cid);
        let data = match fs::metadata(&path) {
            Ok(meta) if meta.len() <= MAX_BLOCK_SIZE as u64 => fs::read(&path).ok()?,
            Ok(_) => Vec::new(),
            Err(_) => return None,
        };
        if hash_matches(cid, &data) {
            return Some(data);
        }
        let _ = fs::remove_file(&path);
        None
    }

    /// Keeps `data`, already verified as block `cid`. Failing to keep it is not an error of the
    /// read that fetched it: the caller goes on without the cache.
    pub fn put(&self, cid: &Cid, data: &[u8]) -> Result<()> {
        let path = self.path(cid);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().expect("a block path has a directory");
        fs::create_dir_all(dir).with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        let mut file = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in the cache directory {}", dir.display()))?;
        file.write_all(data)
            .with_context(|| format!("writing to the cache directory {}", dir.display()))?;
        file.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// How many blocks and bytes the cache holds.
    pub fn usage(&self) -> Result<Usage> {
        let mut usage = Usage::default();
        for file in self.files()? {
            let meta = fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?;
            usage.blocks += 1;
            usage.bytes += meta.len();
        }
        Ok(usage)
    }

    /// Removes every block; what it held.
    pub fn clear(&self) -> Result<Usage> {
        let usage = self.usage()?;
        match fs::remove_dir_all(self.dir.join("blocks")) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot empty the cache {}", self.dir.display()))
            }
            _ => Ok(usage),
        }
    }

    /// Every block file.
    fn files(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let shards = match fs::read_dir(self.dir.join("blocks")) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(files),
            shards => shards.with_context(|| format!("cannot read the cache {}", self.dir.display()))?,
        };
        for shard in shards {
            let shard = shard?.path();
            for file in fs::read_dir(&shard).with_context(|| format!("cannot read {}", shard.display()))? {
                files.push(file?.path());
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::block::{cid_for, RAW};

    #[test]
    fn blocks_come_back_verified_and_corrupt_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(&dir.path().join("cache"));
        let cid = cid_for(RAW, b"block");
        assert_eq!(cache.get(&cid), None);
        cache.put(&cid, b"block").unwrap();
        assert_eq!(cache.get(&cid).as_deref(), Some(&b"block"[..]));
        assert_eq!(cache.usage().unwrap(), Usage { blocks: 1, bytes: 5 });
        fs::write(cache.path(&cid), b"BLOCK").unwrap();
        assert_eq!(cache.get(&cid), None);
        assert!(!cache.path(&cid).exists(), "the corrupt file is removed");
        cache.put(&cid, b"block").unwrap();
        assert_eq!(cache.clear().unwrap(), Usage { blocks: 1, bytes: 5 });
        assert_eq!(cache.usage().unwrap(), Usage::default());
    }
}
