//! Reading a CAR file in place: its header (following a CARv2 wrapper to the CARv1 payload),
//! where each block sits (through the CARv2 index, or by walking the section heads), and each
//! block's bytes, as a [`BlockSource`].

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use cid::Cid;

use super::header::{decode_varint, MAX_SECTION_LEN};
use crate::archive::bytes::{ByteSource, ReadAt};
use crate::archive::car_index::BlockIndex;
use crate::archive::source::{self, BlockSource};

mod parse;

/// Where one block's bytes sit in the file.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    /// Byte offset of the section (its length varint) from the start of the file.
    pub section: u64,
    /// Byte offset of the block's data.
    pub offset: u64,
    /// Length of the block's data.
    pub len: u64,
}

/// An open CAR file: its root, and where each block is. Blocks are read and verified on demand.
pub struct CarFile {
    name: String,
    source: ByteSource,
    root: Cid,
    file_len: u64,
    /// Where the CARv1 payload starts: its header, which index offsets count from.
    payload_start: u64,
    /// The first section and the end of the payload.
    sections: (u64, u64),
    /// What the CARv2 wrapper says; `None` for a CARv1.
    carv2: Option<CarV2>,
    /// Every section, found by walking the file (done on open without a usable index,
    /// otherwise when first needed).
    walked: OnceLock<Walk>,
    /// Read by ranges over the network: blocks are found only through the index, each read in
    /// one request, and the file is never walked.
    remote: bool,
    /// The index's section offsets, sorted: where each section ends (a remote file only).
    starts: OnceLock<Vec<u64>>,
}

/// A CARv2's header fields beyond the payload's place, and its index.
struct CarV2 {
    /// The header's characteristics bits.
    characteristics: [u8; 16],
    /// The index, if the header points at one: decoded, or why it could not be.
    index: Option<Result<BlockIndex, String>>,
}

/// Every section of a file, found by walking it.
struct Walk {
    order: Vec<Cid>,
    blocks: HashMap<Cid, Location>,
}

impl CarFile {
    /// Opens `path` (`-` reads standard input whole) and finds its blocks.
    pub fn open(path: &Path) -> Result<CarFile> {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            return CarFile::from_bytes("<stdin>", bytes);
        }
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        let kind = file
            .metadata()
            .with_context(|| format!("cannot open {name}"))?
            .file_type();
        if kind.is_file() {
            return CarFile::read(name, ByteSource::File(file));
        }
        if kind.is_fifo() {
            // A pipe (`<(...)`) cannot be read by position: read it whole, as standard input.
            let mut bytes = Vec::new();
            (&file)
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {name}"))?;
            return CarFile::from_bytes(&name, bytes);
        }
        if kind.is_dir() {
            bail!("{name}: is a directory, not an archive");
        }
        let what = match () {
            _ if kind.is_char_device() => "a character device",
            _ => "a block device",
        };
        bail!("{name}: is {what}; give a CAR file or a pipe")
    }

    /// Opens a CAR held in memory; `name` is used in messages.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CarFile> {
        CarFile::read(name.to_string(), ByteSource::Memory(bytes))
    }

    /// Opens a CAR from a file already open (an unnamed temporary file, say); `name` is used in
    /// messages.
    pub fn from_file(name: &str, file: File) -> Result<CarFile> {
        CarFile::read(name.to_string(), ByteSource::File(file))
    }

    /// Opens a CAR read by ranges (over HTTP): it must be a CARv2 with a block index, through
    /// which each block is read in one request; a file without one would have to be read whole,
    /// and is refused with what to do instead.
    pub fn open_remote(name: &str, source: Box<dyn ReadAt>) -> Result<CarFile> {
        let mut car = CarFile::read_header_only(name.to_string(), ByteSource::Remote(source))?;
        car.remote = true;
        let problem = match car.carv2.as_ref().map(|v2| &v2.index) {
            None => "is a CARv1",
            Some(None) => "is a CARv2 without a block index",
            Some(Some(Err(_))) => "has a CARv2 block index vecar cannot read",
            Some(Some(Ok(_))) => return Ok(car),
        };
        bail!(
            "{name}: {problem}, so its blocks cannot be found without downloading all of it: fetch it whole \
             (`curl -o x.car URL`, or `vecar pull ROOT` from IPFS) and read the file, or serve the CARv2 \
             with a block index that `vecar build` writes"
        )
    }

    fn read(name: String, source: ByteSource) -> Result<CarFile> {
        let car = CarFile::read_header_only(name, source)?;
        if car.index().is_none() {
            car.walk()?;
        }
        Ok(car)
    }

    /// Reads the headers (and a CARv2's index) but walks nothing.
    fn read_header_only(name: String, source: ByteSource) -> Result<CarFile> {
        let file_len = source.size()?;
        let mut car = CarFile {
            name,
            source,
            root: Cid::default(),
            file_len,
            payload_start: 0,
            sections: (0, 0),
            carv2: None,
            walked: OnceLock::new(),
            remote: false,
            starts: OnceLock::new(),
        };
        if file_len == 0 {
            bail!("{}: empty file, not a CAR", car.name);
        }
        car.sections = car.read_header(0, file_len).map_err(|e| car.not_a_car(e))?;
        Ok(car)
    }

    /// The one root CID.
    pub fn root(&self) -> &Cid {
        &self.root
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Every block's CID and location, in file order (walking the file if not done yet).
    pub fn sections(&self) -> Result<impl Iterator<Item = (&Cid, &Location)>> {
        let walk = self.walk()?;
        Ok(walk.order.iter().map(|cid| (cid, &walk.blocks[cid])))
    }

    /// Where `cid` sits, if the file holds it: through the index when it leads there, else by
    /// walking the file.
    pub fn location(&self, cid: &Cid) -> Result<Option<Location>> {
        if let (Some(index), None) = (self.index(), self.walked.get()) {
            // Blocks of two codecs can share a digest; more entries than that are not honest.
            for offset in index.offsets(cid.hash().digest()).take(2) {
                let pos = self.payload_start.saturating_add(offset);
                if pos < self.sections.0 || pos >= self.sections.1 {
                    continue;
                }
                if let Ok((found, location)) = self.read_section_head(pos, self.sections.1) {
                    if found == *cid {
                        return Ok(Some(location));
                    }
                }
            }
        }
        if self.remote {
            return Ok(None);
        }
        Ok(self.walk()?.blocks.get(cid).copied())
    }

    /// Block `cid` of a remote file, read with its section head in one request through the
    /// index; `None` when the index does not lead to it.
    fn remote_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        let Some(index) = self.index() else {
            return Ok(None);
        };
        let starts = self.starts.get_or_init(|| {
            let mut starts: Vec<u64> = index.all_offsets().collect();
            starts.sort_unstable();
            starts
        });
        for offset in index.offsets(cid.hash().digest()).take(2) {
            let pos = self.payload_start.saturating_add(offset);
            let next = starts.partition_point(|&s| s <= offset);
            let end = starts
                .get(next)
                .map_or(self.sections.1, |&s| self.payload_start.saturating_add(s));
            if pos < self.sections.0 || end > self.sections.1 || end <= pos || end - pos > MAX_SECTION_LEN + 10 {
                continue;
            }
            let mut section = vec![0; (end - pos) as usize];
            self.read_exact(pos, &mut section)?;
            let (len, varint_len) = decode_varint(&section, pos, &self.name, "section length")?;
            if varint_len + len != end - pos {
                continue;
            }
            let mut body = &section[varint_len as usize..];
            match Cid::read_bytes(&mut body) {
                Ok(found) if found == *cid => {
                    let start = section.len() - body.len();
                    section.drain(..start);
                    return Ok(Some(section));
                }
                _ => continue,
            }
        }
        Ok(None)
    }

    /// The CARv2 index, when the file has one that could be read.
    fn index(&self) -> Option<&BlockIndex> {
        self.carv2.as_ref()?.index.as_ref()?.as_ref().ok()
    }

    /// The CAR version and whether it has a block index vecar reads, in words.
    pub fn kind(&self) -> &'static str {
        match self.carv2.as_ref().map(|v2| &v2.index) {
            None => "CARv1",
            Some(None) => "CARv2 without a block index",
            Some(Some(Ok(_))) => "CARv2 with a block index",
            Some(Some(Err(_))) => "CARv2 with an unreadable block index",
        }
    }

    /// Checks a CARv2's header and index: no characteristics but the spec's one ("fully
    /// indexed", the first bit), and the index, if there is one, lists every block at its
    /// section and nothing else.
    pub fn check_carv2(&self) -> Result<()> {
        let name = &self.name;
        let Some(v2) = &self.carv2 else {
            return Ok(());
        };
        let mut unknown = v2.characteristics;
        unknown[0] &= 0x7f;
        if unknown != [0; 16] {
            bail!("{name}: the CARv2 header sets characteristics the CARv2 spec does not define");
        }
        let index = match &v2.index {
            None => return Ok(()),
            Some(Err(e)) => bail!("{name}: the CARv2 index is unreadable: {e}"),
            Some(Ok(index)) => index,
        };
        let mut blocks = 0;
        for (cid, location) in self.sections()? {
            blocks += 1;
            let section = location.section - self.payload_start;
            if !index.offsets(cid.hash().digest()).any(|offset| offset == section) {
                bail!(
                    "{name}: the CARv2 index does not lead to block {cid} (byte {})",
                    location.section
                );
            }
        }
        if index.count() != blocks {
            bail!(
                "{name}: the CARv2 index lists {} blocks but the file holds {blocks}",
                index.count()
            );
        }
        Ok(())
    }
}

/// A CAR file is a source of blocks: each is read in place from where its section says.
impl BlockSource for CarFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> u64 {
        self.file_len()
    }

    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        if self.remote {
            return self.remote_block(cid);
        }
        let Some(location) = self.location(cid)? else {
            return Ok(None);
        };
        let mut data = vec![0; location.len as usize];
        self.read_exact(location.offset, &mut data)?;
        Ok(Some(data))
    }

    fn get_into(&self, cid: &Cid, buf: &mut [u8]) -> Result<bool> {
        if self.remote {
            return source::copy_into(&self.name, cid, self.remote_block(cid)?, buf);
        }
        let Some(location) = self.location(cid)? else {
            return Ok(false);
        };
        source::check_len(&self.name, cid, location.len, buf)?;
        self.read_exact(location.offset, buf)?;
        Ok(true)
    }
}

impl CarFile {
    /// The bytes of block `cid`, verified against its hash (as [`Blocks`](super::source::Blocks)
    /// reads them).
    pub fn block(&self, cid: &Cid) -> Result<Vec<u8>> {
        source::verified(self, cid)
    }
}
