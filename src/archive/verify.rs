//! Checking an archive's blocks: every block's hash, the DAG's links, and the manifest's
//! agreement with the records and vectors it names. `ops::verify` adds the index.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::block::{decode_dag_cbor, DAG_CBOR};
use super::car::CarFile;
use super::read::Archive;
use super::source::BlockSource;

/// What a sound archive holds.
pub struct Report {
    /// The root CID.
    pub root: Cid,
    /// Number of blocks.
    pub blocks: usize,
    /// Size of the file.
    pub bytes: u64,
    /// Number of records.
    pub records: u64,
    /// The CAR version and block index, in words (an index is checked against every block).
    pub kind: &'static str,
}

/// Verifies `car`'s blocks, links, manifest, records and vectors (the index's bytes are hashed
/// here; what they hold is for the index to check) and returns a report and the archive, or the
/// first problem found.
pub fn verify(car: Arc<CarFile>) -> Result<(Report, Archive)> {
    let name = car.name().to_string();
    let mut links: HashMap<Cid, Vec<Cid>> = HashMap::new();
    for (cid, _) in car.sections()? {
        let data = car.block(cid)?;
        if cid.codec() == DAG_CBOR {
            let node: Ipld = decode_dag_cbor(&data).with_context(|| format!("{name}: block {cid}"))?;
            let mut refs = Vec::new();
            node.references(&mut refs);
            links.insert(*cid, refs);
        }
    }
    let mut reached = HashSet::from([*car.root()]);
    let mut stack = vec![*car.root()];
    if car.location(car.root())?.is_none() {
        bail!(
            "{name}: not a vecar archive (its root block {} is not in the file)",
            car.root()
        );
    }
    while let Some(cid) = stack.pop() {
        for link in links.get(&cid).into_iter().flatten() {
            if car.location(link)?.is_none() {
                bail!("{name}: block {cid} links to {link}, which is missing");
            }
            if reached.insert(*link) {
                stack.push(*link);
            }
        }
    }
    if let Some((orphan, _)) = car.sections()?.find(|(cid, _)| !reached.contains(cid)) {
        bail!("{name}: block {orphan} is not reachable from the root");
    }

    car.check_carv2()?;
    let kind = car.kind();
    let archive = Archive::from_car(car.clone())?;
    check_rows(&archive)?;
    let report = Report {
        root: archive.root,
        blocks: reached.len(),
        bytes: car.file_len(),
        records: archive.manifest.count,
        kind,
    };
    Ok((report, archive))
}

/// Checks that every record has a valid id, no id is repeated, and every vector decodes.
pub fn check_rows(archive: &Archive) -> Result<()> {
    let (m, name) = (&archive.manifest, archive.name());
    let mut ids = HashSet::new();
    archive.for_each_record(|row, record| match record.get(&m.fields.id) {
        Some(id @ (serde_json::Value::String(_) | serde_json::Value::Number(_))) if ids.insert(id.to_string()) => {
            Ok(())
        }
        Some(id @ (serde_json::Value::String(_) | serde_json::Value::Number(_))) => {
            bail!("{name}: duplicate record id {id}")
        }
        _ => bail!("{name}: record {row} has no valid {:?} field", m.fields.id),
    })?;
    for chunk in &archive.vectors_list()?.chunks {
        archive.vectors_in(chunk)?;
    }
    Ok(())
}
