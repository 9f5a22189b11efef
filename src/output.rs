//! Writing results: JSON lines on stdout, records with their vectors, and files written
//! atomically (a temporary file renamed into place only when complete).

use std::fs::{File, Metadata, Permissions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::input::Record;

/// Buffered, locked standard output whose errors say they are about standard output, so every
/// command reports a full disk the same way (`writing to standard output: no space left on
/// device`); a closed pipe keeps its kind, which `main` turns into a quiet exit 0.
pub fn stdout() -> Stdout {
    Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout().lock()))
}

/// See [`stdout`].
pub struct Stdout(BufWriter<std::io::StdoutLock<'static>>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(on_stdout)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(on_stdout)
    }
}

fn on_stdout(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("writing to standard output: {}", describe(&e)))
}

/// An I/O error in words, without the `(os error N)` that follows the system's description.
pub fn describe(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match e.raw_os_error() {
        Some(code) => text.trim_end_matches(&format!(" (os error {code})")).to_string(),
        None => text,
    };
    let mut chars = text.chars();
    chars
        .next()
        .map_or(String::new(), |first| first.to_lowercase().chain(chars).collect())
}

/// Writes one line to standard error. A closed or full standard error is ignored: there is no
/// better place to say so, and the exit code still tells.
pub fn note(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `n` and the `noun`, plural when `n` is not 1: "1 record", "2 records".
pub fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `n` with its thousands grouped by commas: "12,288".
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Writes what `write` writes to `path`: `-` is standard output (flushed at the end), anything
/// else is written as [`write_file`] writes it.
pub fn write_to(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if path.as_os_str() != "-" {
        return write_file(path, write);
    }
    let mut out = stdout();
    write(&mut out)?;
    Ok(out.flush()?)
}

/// What messages call the output `path`: "standard output" for `-`, else the path.
pub fn name_of(path: &Path) -> String {
    match path.as_os_str() == "-" {
        true => "standard output".into(),
        false => path.display().to_string(),
    }
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

/// On Ctrl-C, SIGTERM or SIGHUP: remove the temporary file being written, if any, and exit 130
/// at once, whatever the other threads are doing, so an interrupted command leaves neither a
/// partial archive nor a stray temporary file.
pub fn clean_up_on_signals() -> Result<()> {
    ctrlc::set_handler(|| {
        // The lock is held until the exit, so the writer cannot rename the file into place
        // meanwhile (and finish with 0) however long the removal takes.
        let mut pending = pending();
        if let Some(path) = pending.take() {
            let _ = std::fs::remove_file(path);
        }
        // `_exit`, not `exit`: no exit handler or destructor may wait for the busy threads.
        unsafe { libc::_exit(130) }
    })
    .context("installing the signal handler")
}

fn pending() -> std::sync::MutexGuard<'static, Option<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Refuses an output that is the same file (the same device and inode, whatever the names) as
/// one of `inputs`, where `-` stands for standard input: writing it would destroy an input.
pub fn check_not_an_input(output: &Path, inputs: &[&Path]) -> Result<()> {
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(()); // a new file, or one that cannot be an input
    };
    for input in inputs {
        let meta = if input.as_os_str() == "-" {
            stdin_metadata()
        } else {
            std::fs::metadata(input).ok()
        };
        if meta.is_some_and(|m| m.dev() == out.dev() && m.ino() == out.ino()) {
            let input = if input.as_os_str() == "-" {
                "standard input".into()
            } else {
                input.display().to_string()
            };
            bail!(
                "-o {} is also an input ({input}); write the output to another file",
                output.display()
            );
        }
    }
    Ok(())
}

fn stdin_metadata() -> Option<Metadata> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    File::from(fd).metadata().ok()
}

/// Writes `path` through `write`. A regular file (through any symbolic links, keeping its
/// permissions) or a new path is written atomically: to a temporary file beside it, renamed
/// over it only when `write` succeeded, so on any failure it is untouched and the temporary
/// file removed. A FIFO or a character device (`/dev/null`) is written directly, never
/// replaced; anything else (a directory, a socket, a block device) is refused.
pub fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let name = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot write {name}")),
    };
    let Some(meta) = meta else {
        return write_atomically(path, Permissions::from_mode(0o644), write);
    };
    let kind = meta.file_type();
    if kind.is_file() {
        let real = std::fs::canonicalize(path).with_context(|| format!("cannot write {name}"))?;
        return write_atomically(&real, meta.permissions(), write);
    }
    if !(kind.is_fifo() || kind.is_char_device()) {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a block device"
        };
        bail!("cannot write {name}: it is {what}; give a file, a FIFO or a character device");
    }
    let file = File::options()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot write {name}"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out).with_context(|| format!("writing {name}"))?;
    out.flush().with_context(|| format!("writing {name}"))
}

/// Writes `path`, a regular file or a new path, through a temporary file beside it that gets
/// `permissions` and is renamed over `path` only when complete.
fn write_atomically(
    path: &Path,
    permissions: Permissions,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
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
        .permissions(permissions)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    *pending() = Some(temp.path().to_path_buf());
    let name = path.display();
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, temp.as_file());
        write(&mut out).with_context(|| format!("writing {name}"))?;
        out.flush().with_context(|| format!("writing {name}"))?;
        drop(out);
        temp.as_file().sync_all().with_context(|| format!("writing {name}"))
    })();
    // Renamed under the lock: a signal handler that took it first removes the file and exits.
    let mut pending = pending();
    *pending = None;
    written?;
    temp.persist(path).with_context(|| format!("cannot write {name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn thousands_are_grouped() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (12288, "12,288"),
            (50_000_000, "50,000,000"),
        ] {
            assert_eq!(grouped(n), text);
        }
    }
}
