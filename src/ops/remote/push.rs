//! `push`: an archive imported into an IPFS node, and the node's report checked against it.

use std::path::Path;

use anyhow::{bail, Result};
use cid::Cid;

use super::api::Api;
use crate::archive::car::CarFile;

/// Imports the archive at `path` into the node behind `api`, pinning its root unless `pin` is
/// false, and returns the root CID once the node's report agrees: it names this root with no pin
/// error (or, unpinned, the node holds the root block) and, if it counts them, read as many blocks
/// as the file has (a node that does not count, js-ipfs, has pinned the whole DAG or holds the root).
/// The file's header and section heads are read here; its blocks are checked by the node.
pub fn push(api: &Api, path: &Path, pin: bool) -> Result<Cid> {
    if path.as_os_str() == "-" {
        bail!("push reads an archive file, not standard input");
    }
    let car = CarFile::open(path)?;
    let root = *car.root();
    let blocks = car.sections()?.count() as u64;
    let node = api.url();
    let imported = api.import(path, pin)?;
    if pin {
        match &imported.roots[..] {
            [(cid, error)] if *cid == root.to_string() && error.is_empty() => {}
            [(cid, error)] if *cid == root.to_string() => bail!("{node}: could not pin {root}: {error}"),
            roots => bail!(
                "{node}: the node reported the roots {:?}, not {root}",
                roots.iter().map(|(cid, _)| cid).collect::<Vec<_>>()
            ),
        }
    } else {
        api.check_has(&root)?;
    }
    if let Some(read) = imported.blocks.filter(|&read| read != blocks) {
        bail!(
            "{node}: the node read {read} blocks of {}, which holds {blocks}",
            path.display()
        );
    }
    Ok(root)
}
