//! Comparing two archives: which ids were added, removed or changed, and which blocks they share.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::ids::key_text;
use super::listing::{Entry, Role};
use super::manifest::Manifest;
use super::read::Archive;
use super::rows::read_archive;

/// What changed from archive A to archive B.
#[derive(Serialize)]
pub struct Diff {
    /// Ids in B and not in A, in B's order.
    pub added: Vec<Value>,
    /// Ids in A and not in B, in A's order.
    pub removed: Vec<Value>,
    /// Ids in both whose record or vector differs, in B's order.
    pub changed: Vec<Value>,
    /// Number of ids in both with the same record and vector.
    pub unchanged: u64,
    /// Manifest settings that differ (index parameters, field names, embedding model…), by
    /// dotted path: the same records under another metric are another archive.
    pub settings: BTreeMap<String, Setting>,
    /// Blocks by role (A's role for blocks in A, B's for blocks only in B).
    pub blocks: BTreeMap<Role, BlockSplit>,
}

/// A manifest setting's value in each archive (null where it is absent).
#[derive(Serialize)]
pub struct Setting {
    /// In A.
    pub a: Value,
    /// In B.
    pub b: Value,
}

/// How the blocks of one role split between the archives.
#[derive(Default, Serialize)]
pub struct BlockSplit {
    /// Blocks in both.
    pub shared: Tally,
    /// Blocks only in A.
    pub only_a: Tally,
    /// Blocks only in B.
    pub only_b: Tally,
}

/// A number of blocks and their bytes.
#[derive(Default, Serialize)]
pub struct Tally {
    /// Blocks.
    pub blocks: u64,
    /// Bytes of block data.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.blocks += 1;
        self.bytes += bytes;
    }
}

/// Compares `a` and `b`, whose blocks are `blocks` ([`super::listing::list`]), reading and
/// verifying every record and vector of both. Ids are matched by their text ([`super::ids`]).
pub fn diff(a: &Archive, b: &Archive, blocks: [&[Entry]; 2]) -> Result<Diff> {
    let (a_rows, b_rows) = (digests(a)?, digests(b)?);
    let a_map: HashMap<Cow<str>, &[u8; 32]> = a_rows.iter().map(|(k, d)| (key_text(k), d)).collect();
    let b_texts: HashSet<Cow<str>> = b_rows.iter().map(|(k, _)| key_text(k)).collect();
    let id = |key: &str| serde_json::from_str(key).expect("keys are JSON");
    let mut diff = Diff {
        added: Vec::new(),
        removed: a_rows
            .iter()
            .filter(|(k, _)| !b_texts.contains(&key_text(k)))
            .map(|(k, _)| id(k))
            .collect(),
        changed: Vec::new(),
        unchanged: 0,
        settings: changed_settings(&a.manifest, &b.manifest),
        blocks: BTreeMap::new(),
    };
    for (key, digest) in &b_rows {
        match a_map.get(&key_text(key)) {
            None => diff.added.push(id(key)),
            Some(&d) if d != digest => diff.changed.push(id(key)),
            Some(_) => diff.unchanged += 1,
        }
    }
    let [a_blocks, b_blocks] = blocks.map(|list| list.iter().map(|e| e.cid).collect::<HashSet<_>>());
    for block in blocks[0] {
        let split = diff.blocks.entry(block.role).or_default();
        let side = if b_blocks.contains(&block.cid) {
            &mut split.shared
        } else {
            &mut split.only_a
        };
        side.add(block.size);
    }
    for block in blocks[1].iter().filter(|block| !a_blocks.contains(&block.cid)) {
        diff.blocks.entry(block.role).or_default().only_b.add(block.size);
    }
    Ok(diff)
}

impl Diff {
    /// The share of A's record and vector blocks that B holds too.
    pub fn reuse(&self) -> f64 {
        let (mut shared, mut all) = (0, 0);
        for role in [Role::Records, Role::Vectors] {
            if let Some(split) = self.blocks.get(&role) {
                shared += split.shared.blocks;
                all += split.shared.blocks + split.only_a.blocks;
            }
        }
        if all == 0 {
            1.0
        } else {
            shared as f64 / all as f64
        }
    }
}

/// The settings of two manifests that differ: everything but the counts and the collections.
fn changed_settings(a: &Manifest, b: &Manifest) -> BTreeMap<String, Setting> {
    let (a, b) = (settings(a), settings(b));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .map(|path| {
            let value = |side: &BTreeMap<String, Value>| side.get(path).cloned().unwrap_or(Value::Null);
            (
                path.clone(),
                Setting {
                    a: value(&a),
                    b: value(&b),
                },
            )
        })
        .collect()
}

/// A manifest's settings by dotted path.
fn settings(m: &Manifest) -> BTreeMap<String, Value> {
    let tree = json!({
        "version": m.version,
        "dimensions": m.dimensions,
        "fields": m.fields,
        "index": {"engine": m.index.engine, "engine_version": m.index.engine_version, "params": m.index.params},
        "embedding": m.embedding,
    });
    let mut flat = BTreeMap::new();
    let mut stack = vec![(String::new(), tree)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) => stack.extend(map.into_iter().map(|(key, value)| {
                let path = if path.is_empty() { key } else { format!("{path}.{key}") };
                (path, value)
            })),
            Value::Null => {}
            value => {
                flat.insert(path, value);
            }
        }
    }
    flat
}

/// Every row's id key with a digest of its record and vector, in row order.
fn digests(archive: &Archive) -> Result<Vec<(String, [u8; 32])>> {
    let mut rows = Vec::with_capacity(archive.manifest.count.min(archive.blocks.size()).min(1 << 20) as usize);
    read_archive(archive, |row| {
        let mut hash = Sha256::new();
        hash.update(&row.record);
        row.vector.iter().for_each(|v| hash.update(v.to_le_bytes()));
        rows.push((row.key, hash.finalize().into()));
        Ok(())
    })?;
    Ok(rows)
}
