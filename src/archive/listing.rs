//! An archive block by block, as `ls` lists it, `info` counts it and `diff` compares it: each
//! block's CID, size and role.
//!
//! A CAR file's blocks are its sections, in file order, those the manifest does not reach
//! included. A remote archive has no sections here: its blocks are those the manifest reaches —
//! the manifest, then the records, vectors, index and partitions (row lists, then codes), each
//! as its link nodes (top level first) and then its chunks — which is the order `vecar build`
//! writes them in, so a remote archive lists as its file does. A remote block's size is measured by fetching it
//! (verified) when it is the manifest, a link node or a records chunk; a vectors, index or
//! partitions chunk's is the one its link fixes (rows × dimensions × 4 bytes; its byte count;
//! rows × 8 bytes of row numbers or rows × a row's codes), so the bulk of an archive is not
//! fetched to list it.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use cid::Cid;

use super::car::CarFile;
use super::read::{Archive, PREFETCH_AHEAD};
use super::tree::ChunkList;
use super::vectors;
use crate::params::PARTITION_ROW_NUMBER;

/// One block of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its CID.
    pub cid: Cid,
    /// Bytes of block data.
    pub size: u64,
    /// What it is for.
    pub role: Role,
    /// Where its section (its length varint) starts in the CAR file; `None` for a remote
    /// archive.
    pub offset: Option<u64>,
}

/// Every block of `archive`: the sections of `car`, the CAR file holding it, in file order;
/// without a file (a remote archive), the blocks its manifest reaches, in the order a build
/// writes them, without repeats.
pub fn list(archive: &Archive, car: Option<&CarFile>) -> Result<Vec<Entry>> {
    let roles = roles(archive)?;
    let role = |cid: &Cid| roles.get(cid).copied().unwrap_or(Role::Unreferenced);
    let Some(car) = car else {
        return reached(archive, role);
    };
    Ok(car
        .sections()?
        .map(|(cid, location)| Entry {
            cid: *cid,
            size: location.len,
            role: role(cid),
            offset: Some(location.section),
        })
        .collect())
}

/// The role of every block the manifest reaches (every leaf read).
fn roles(archive: &Archive) -> Result<HashMap<Cid, Role>> {
    archive.read_row_lists()?;
    let mut roles = HashMap::from([(archive.root, Role::Manifest)]);
    for (list, links, chunks) in [
        (archive.records_list()?, Role::RecordsLinks, Role::Records),
        (archive.vectors_list()?, Role::VectorsLinks, Role::Vectors),
        (&archive.index, Role::IndexLinks, Role::Index),
        (&archive.partitions, Role::PartitionsLinks, Role::Partitions),
        (&archive.partition_rows, Role::RowListsLinks, Role::RowLists),
    ] {
        roles.extend(list.nodes.iter().map(|cid| (*cid, links)));
        roles.extend(list.chunks.iter().map(|c| (c.cid, chunks)));
    }
    Ok(roles)
}

/// The blocks the manifest reaches, in build order; the sizes links do not fix are measured
/// by reading the blocks, [`PREFETCH_AHEAD`] at a time.
fn reached(archive: &Archive, role: impl Fn(&Cid) -> Role) -> Result<Vec<Entry>> {
    let dimensions = archive.manifest.dimensions;
    let nodes = |list: &ChunkList| list.nodes.iter().map(|cid| (*cid, None)).collect::<Vec<_>>();
    let (records, vectors) = (archive.records_list()?, archive.vectors_list()?);
    let mut order: Vec<(Cid, Option<u64>)> = vec![(archive.root, None)];
    order.extend(nodes(records));
    order.extend(records.chunks.iter().map(|chunk| (chunk.cid, None)));
    order.extend(nodes(vectors));
    order.extend(vectors.chunks.iter().map(|chunk| {
        let size = vectors::chunk_len(chunk.count, dimensions);
        (chunk.cid, Some(size))
    }));
    order.extend(nodes(&archive.index));
    order.extend(archive.index.chunks.iter().map(|chunk| (chunk.cid, Some(chunk.count))));
    if let Some(p) = &archive.manifest.index.partitions {
        let sized = |list: &ChunkList, row_bytes: u64| {
            let chunks = list.chunks.iter();
            let chunks = chunks.map(|chunk| (chunk.cid, Some(chunk.count.saturating_mul(row_bytes))));
            nodes(list).into_iter().chain(chunks).collect::<Vec<_>>()
        };
        order.extend(sized(&archive.partition_rows, PARTITION_ROW_NUMBER as u64));
        order.extend(sized(&archive.partitions, p.code_bytes(dimensions)));
    }
    let mut seen = HashSet::new();
    order.retain(|(cid, _)| seen.insert(*cid));
    let unknown: Vec<Cid> = order
        .iter()
        .filter(|(_, size)| size.is_none())
        .map(|(cid, _)| *cid)
        .collect();
    let mut measured = HashMap::with_capacity(unknown.len());
    for window in unknown.chunks(PREFETCH_AHEAD) {
        archive.blocks.prefetch(window);
        for cid in window {
            measured.insert(*cid, archive.blocks.get(cid)?.len() as u64);
        }
    }
    Ok(order
        .into_iter()
        .map(|(cid, size)| Entry {
            size: size.unwrap_or_else(|| measured[&cid]),
            role: role(&cid),
            offset: None,
            cid,
        })
        .collect())
}

/// What a block is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The root block.
    Manifest,
    /// A link node of the records tree.
    RecordsLinks,
    /// A records chunk.
    Records,
    /// A link node of the vectors tree.
    VectorsLinks,
    /// A vectors chunk.
    Vectors,
    /// A link node of the index tree.
    IndexLinks,
    /// An index chunk.
    Index,
    /// A link node of a partitioned index's row lists tree.
    RowListsLinks,
    /// A chunk of a partitioned index's row lists.
    RowLists,
    /// A link node of a partitioned index's codes tree.
    PartitionsLinks,
    /// A chunk of a partitioned index's codes (and in version 1 the row numbers too).
    Partitions,
    /// A block the manifest does not reach.
    Unreferenced,
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Role {
    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Manifest => "manifest",
            Role::RecordsLinks => "records-links",
            Role::Records => "records",
            Role::VectorsLinks => "vectors-links",
            Role::Vectors => "vectors",
            Role::IndexLinks => "index-links",
            Role::Index => "index",
            Role::RowListsLinks => "row-lists-links",
            Role::RowLists => "row-lists",
            Role::PartitionsLinks => "partitions-links",
            Role::Partitions => "partitions",
            Role::Unreferenced => "unreferenced",
        }
    }
}
