//! A directory of verified blocks kept by CID, so that a block fetched over the network once is
//! not fetched again. Blocks are content-addressed: a cached block never goes stale. Each block
//! is one file, `blocks/<last two characters of its CID>/<CID>`, written to a temporary file
//! and renamed into place, so a reader never sees half a block; a file that does not match its
//! CID (a disk error, a hand edit) is dropped and counts as absent.
//!
//! The cache is bounded: when a process is done with it, [`BlockCache::trim`] removes the least
//! recently used blocks if it holds more than its limit (new blocks, or a lowered limit), until
//! it holds at most 90% of it, so that the next processes need not trim. A file's modification time is its last use (set when it is written, and again each time
//! it is read). Walking a full cache costs a `stat` per block (0.3 s for the 117,000 blocks of
//! 2 GiB), so a ledger file, `bytes`, keeps the total as last measured plus what processes kept
//! since; the blocks are walked only when that passes the limit. The ledger can fall behind (two
//! processes adding at once, blocks copied in by hand): each walk sets it right.
//!
//! Several vecar processes may share a cache: a file removed while another process reads it
//! stays readable to that process (an open file outlives its name), and one removed before it is
//! opened is only absent, so its block is fetched again.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result};
use cid::Cid;

use super::block::{hash_matches, MAX_BLOCK_SIZE};

/// The ledger's file name in the cache directory.
const LEDGER: &str = "bytes";

/// A block cache in a directory.
pub struct BlockCache {
    dir: PathBuf,
    max: u64,
    /// Bytes of the blocks kept since the cache was opened, or last trimmed.
    kept: AtomicU64,
}

/// What a cache holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blocks kept.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A block file, its size and its last use.
struct Kept {
    path: PathBuf,
    len: u64,
    used: SystemTime,
}

impl BlockCache {
    /// The cache in `dir` (created when the first block is kept), holding at most `max` bytes
    /// of blocks once trimmed.
    pub fn new(dir: &Path, max: u64) -> BlockCache {
        BlockCache {
            dir: dir.to_path_buf(),
            max,
            kept: AtomicU64::new(0),
        }
    }

    /// The most bytes of blocks the cache keeps once trimmed.
    pub fn max(&self) -> u64 {
        self.max
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

    /// The bytes of block `cid`, verified against it, and its file marked as just used; `None`
    /// when the cache does not hold it, or held it corrupt (the file is then removed).
    pub fn get(&self, cid: &Cid) -> Option<Vec<u8>> {
        let path = self.path(cid);
        let file = File::open(&path).ok()?;
        let mut data = Vec::new();
        (&file).take(MAX_BLOCK_SIZE as u64 + 1).read_to_end(&mut data).ok()?;
        if hash_matches(cid, &data) {
            // Failing to mark the use only makes the block look older when the cache is trimmed.
            let _ = file.set_modified(SystemTime::now());
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
        self.kept.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// How many blocks and bytes the cache holds.
    pub fn usage(&self) -> Result<Usage> {
        let mut usage = Usage::default();
        for kept in self.kept()? {
            usage.blocks += 1;
            usage.bytes += kept.len;
        }
        Ok(usage)
    }

    /// Adds the blocks kept since the last trim to the ledger and, if that passes the limit (a
    /// limit lowered since counts too), walks the blocks and removes the least recently used
    /// until the cache holds at most 90% of its limit; what it removed. With nothing kept and
    /// the ledger within the limit, this reads the ledger and nothing else.
    pub fn trim(&self) -> Result<Usage> {
        let kept = self.kept.swap(0, Ordering::Relaxed);
        if let Some(total) = self.ledger().and_then(|bytes| bytes.checked_add(kept)) {
            if total <= self.max {
                if kept > 0 {
                    self.set_ledger(total);
                }
                return Ok(Usage::default());
            }
        }
        let mut blocks = self.kept()?;
        let mut bytes: u64 = blocks.iter().map(|k| k.len).sum();
        let mut removed = Usage::default();
        if bytes > self.max {
            blocks.sort_by_key(|k| k.used);
            let low = self.max - self.max / 10;
            for block in blocks {
                if bytes <= low {
                    break;
                }
                match fs::remove_file(&block.path) {
                    Ok(()) => {
                        removed.blocks += 1;
                        removed.bytes += block.len;
                    }
                    // Another process removed it first.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot remove {}", block.path.display())),
                }
                bytes -= block.len;
            }
        }
        self.set_ledger(bytes);
        Ok(removed)
    }

    /// The ledger's total; `None` when there is none (or it is not a number).
    fn ledger(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join(LEDGER)).ok()?.trim().parse().ok()
    }

    /// Writes `bytes` to the ledger, atomically. Failing to is not an error: without a ledger,
    /// the next trim walks the blocks.
    fn set_ledger(&self, bytes: u64) {
        let write = || -> std::io::Result<()> {
            let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
            writeln!(file, "{bytes}")?;
            file.persist(self.dir.join(LEDGER))?;
            Ok(())
        };
        let _ = write();
    }

    /// Removes every block (and the ledger); what it held.
    pub fn clear(&self) -> Result<Usage> {
        let usage = self.usage()?;
        let _ = fs::remove_file(self.dir.join(LEDGER));
        match fs::remove_dir_all(self.dir.join("blocks")) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot empty the cache {}", self.dir.display()))
            }
            _ => Ok(usage),
        }
    }

    /// Every block file (not the temporary files of blocks being written), with its size and
    /// last use. A file that goes away while it is looked at is skipped.
    fn kept(&self) -> Result<Vec<Kept>> {
        let mut kept = Vec::new();
        let shards = match fs::read_dir(self.dir.join("blocks")) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(kept),
            shards => shards.with_context(|| format!("cannot read the cache {}", self.dir.display()))?,
        };
        for shard in shards {
            let shard = shard?.path();
            for file in fs::read_dir(&shard).with_context(|| format!("cannot read {}", shard.display()))? {
                let file = file?;
                if file.file_name().as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                let meta = match file.metadata() {
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    meta => meta.with_context(|| format!("cannot read {}", file.path().display()))?,
                };
                kept.push(Kept {
                    path: file.path(),
                    len: meta.len(),
                    used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::block::{cid_for, RAW};

    #[test]
    fn blocks_come_back_verified_and_corrupt_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(&dir.path().join("cache"), u64::MAX);
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

    #[test]
    fn trimming_removes_the_least_recently_used_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(dir.path(), 10);
        let cids: Vec<Cid> = (0..4u8).map(|i| cid_for(RAW, &[i; 4])).collect();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for (i, cid) in cids.iter().enumerate() {
            cache.put(cid, &[i as u8; 4]).unwrap();
            let when = old + std::time::Duration::from_secs(i as u64);
            File::open(cache.path(cid)).unwrap().set_modified(when).unwrap();
        }
        // Reading the oldest makes it the most recently used.
        assert!(cache.get(&cids[0]).is_some());
        assert_eq!(cache.trim().unwrap(), Usage { blocks: 2, bytes: 8 });
        let left: Vec<bool> = cids.iter().map(|cid| cache.has(cid)).collect();
        assert_eq!(left, [true, false, false, true]);
        assert_eq!(cache.trim().unwrap(), Usage::default(), "within its limit");
        assert_eq!(cache.ledger(), Some(8));

        // Within the limit by the ledger: the blocks are not walked, even when the ledger has
        // fallen behind (12 bytes are kept, over the limit of 10).
        cache.set_ledger(0);
        cache.put(&cid_for(RAW, b"more"), b"more").unwrap();
        assert_eq!(cache.trim().unwrap(), Usage::default());
        assert_eq!((cache.ledger(), cache.usage().unwrap().bytes), (Some(4), 12));
        // Past it, they are, and the ledger is set right.
        let newest = cid_for(RAW, b"7 bytes");
        cache.put(&newest, b"7 bytes").unwrap();
        // Blocks written within one tick of the file system's clock share an mtime, and ties
        // may go either way: date the last two apart so the order is the test's, not the clock's.
        let later = |cid: &Cid, secs| {
            let when = SystemTime::now() + std::time::Duration::from_secs(secs);
            File::open(cache.path(cid)).unwrap().set_modified(when).unwrap();
        };
        later(&cid_for(RAW, b"more"), 0);
        later(&newest, 60);
        assert_eq!(cache.trim().unwrap(), Usage { blocks: 3, bytes: 12 });
        assert_eq!((cache.ledger(), cache.usage().unwrap().bytes), (Some(7), 7));
        assert!(cache.has(&newest));
        cache.clear().unwrap();
        assert_eq!(cache.ledger(), None, "clearing removes the ledger");
    }
}
