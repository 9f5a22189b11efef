//! Writing results: JSON lines on stdout, records with their vectors, and files written
//! atomically (a temporary file renamed into place only when complete).

use std::fs::Permissions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::input::Record;

/// Buffered, locked standard output.
pub fn stdout() -> BufWriter<std::io::StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

/// `n` and the `noun`, plural when `n` is not 1: "1 record", "2 records".
pub fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Writes `value` as one line of JSON.
pub fn json_line(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A record with its vector put back under the vector field: an input line again. The vector's
/// values are written as float32, so they parse back to the same bits.
pub struct WithVector<'a> {
    /// The stored record.
    pub record: &'a Record,
    /// The vector field's name.
    pub field: &'a str,
    /// The vector.
    pub vector: &'a [f32],
}

impl Serialize for WithVector<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.record.len() + 1))?;
        for (key, value) in self.record {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry(self.field, self.vector)?;
        map.end()
    }
}

/// The temporary file being written, removed if a signal stops the process.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// On Ctrl-C, SIGTERM or SIGHUP: remove the temporary file being written, if any, and exit 130,
/// so an interrupted build leaves neither a partial archive nor a stray temporary file.
pub fn clean_up_on_signals() -> Result<()> {
    ctrlc::set_handler(|| {
        if let Some(path) = PENDING.lock().ok().and_then(|mut p| p.take()) {
            let _ = std::fs::remove_file(path);
        }
        std::process::exit(130);
    })
    .context("installing the signal handler")
}

fn set_pending(path: Option<PathBuf>) {
    *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = path;
}

/// Writes `path` through `write`: to a temporary file beside it, renamed over `path` only when
/// `write` succeeded. On any failure `path` is untouched and the temporary file removed.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<&std::fs::File>) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!("cannot create {}: no such directory", path.display());
    }
    let temp = tempfile::Builder::new()
        .prefix(".vecar-")
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    set_pending(Some(temp.path().to_path_buf()));
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, temp.as_file());
        write(&mut out)?;
        out.flush().with_context(|| format!("writing {}", path.display()))?;
        drop(out);
        temp.as_file()
            .sync_all()
            .with_context(|| format!("writing {}", path.display()))?;
        temp.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })();
    set_pending(None);
    result
}
