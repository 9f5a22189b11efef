//! Walking a DAG from its root through a block source, level by level, so that a source with a
//! high latency fetches each level's blocks together.

use std::collections::HashSet;

use anyhow::{Context, Result};
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::block::{decode_dag_cbor, DAG_CBOR};
use super::source::Blocks;

/// Blocks asked for together while walking.
const WINDOW: usize = 64;

/// Calls `visit` once with every block reachable from `root` (each verified against its CID),
/// breadth first. Fails at the first block that is missing, corrupt or not valid DAG-CBOR.
pub fn walk(blocks: &Blocks, root: &Cid, mut visit: impl FnMut(&Cid, &[u8]) -> Result<()>) -> Result<()> {
    let name = blocks.name();
    let mut seen = HashSet::from([*root]);
    let mut level = vec![(*root, None)];
    while !level.is_empty() {
        let mut next = Vec::new();
        for window in level.chunks(WINDOW) {
            blocks.prefetch(window.iter().map(|(cid, _)| cid));
            for (cid, parent) in window {
                let data = blocks.get(cid).with_context(|| match parent {
                    Some(parent) => format!("{name}: block {parent} links to {cid}"),
                    None => format!("{name}: the root block"),
                })?;
                if cid.codec() == DAG_CBOR {
                    let node: Ipld = decode_dag_cbor(&data).with_context(|| format!("{name}: block {cid}"))?;
                    let mut links = Vec::new();
                    node.references(&mut links);
                    next.extend(
                        links
                            .into_iter()
                            .filter(|link| seen.insert(*link))
                            .map(|link| (link, Some(*cid))),
                    );
                }
                visit(cid, &data)?;
            }
        }
        level = next;
    }
    Ok(())
}
