//! Reading a JSONL input line by line, from a file or standard input: each line checked for
//! length and UTF-8, and numbered for messages.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The longest line accepted: a record must fit a 1 MiB block, and its vector written as JSON
/// takes at most about 25 bytes a number.
pub const MAX_LINE_BYTES: u64 = 32 << 20;

/// A source of JSONL lines: a file ([`Lines`]) or lines given vectors on the way
/// ([`crate::embed::LinesWithVectors`]).
pub trait LineSource {
    /// The next line that is not blank, with its 1-based number in the input.
    fn next_line(&mut self) -> Result<Option<(u64, String)>>;
    /// Whether the next line (or the end) can be read now, without waiting: false only when a
    /// pipe or terminal has nothing more yet, so that a reader can hand on what it has read
    /// (answers to queries typed or sent one by one) before waiting for more.
    fn ready(&self) -> bool;
    /// The input's name for messages.
    fn name(&self) -> &str;
}

/// The pipe buffer asked for a pipe read from, in place of the usual 64 KiB: what a fast writer
/// (`cat`) can put there while the queries read before are answered, so the next batch is big.
/// Asking for more than the system allows (`/proc/sys/fs/pipe-max-size`, 1 MiB by default) fails
/// and changes nothing.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// A JSONL file (or standard input for `-`), read line by line.
pub struct Lines {
    name: String,
    reader: BufReader<Box<dyn Read>>,
    /// The descriptor read, to see whether more input is there.
    fd: RawFd,
    line: u64,
    buf: Vec<u8>,
    /// The input has ended. A terminal's end (Ctrl-D) is read once: reading on would wait for
    /// another.
    ended: bool,
}

impl Lines {
    /// Opens `path`; `-` is standard input.
    pub fn open(path: &Path) -> Result<Lines> {
        let (name, fd, input): (String, RawFd, Box<dyn Read>) = if path.as_os_str() == "-" {
            ("<stdin>".into(), libc::STDIN_FILENO, Box::new(std::io::stdin()))
        } else {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), file.as_raw_fd(), Box::new(file))
        };
        // SAFETY: fcntl on a descriptor this process holds open; on anything but a pipe it fails
        // and changes nothing.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES) };
        Ok(Lines {
            name,
            reader: BufReader::with_capacity(1 << 20, input),
            fd,
            line: 0,
            buf: Vec::new(),
            ended: false,
        })
    }
}

impl LineSource for Lines {
    fn name(&self) -> &str {
        &self.name
    }

    /// The next line that is not blank, with its 1-based number, less its line ending.
    fn next_line(&mut self) -> Result<Option<(u64, String)>> {
        while let Some((line, text)) = self.next_raw()? {
            if !text.trim().is_empty() {
                return Ok(Some((line, text)));
            }
        }
        Ok(None)
    }

    fn ready(&self) -> bool {
        if self.ended || self.reader.buffer().contains(&b'\n') {
            return true;
        }
        let mut poll = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd. An error (-1) counts as ready: reading will report it.
        unsafe { libc::poll(&mut poll, 1, 0) != 0 }
    }
}

impl Lines {
    /// The next line, blank or not, with its 1-based number, less its line ending (`\n` or
    /// `\r\n`, nothing else).
    pub fn next_raw(&mut self) -> Result<Option<(u64, String)>> {
        self.buf.clear();
        if self.ended {
            return Ok(None);
        }
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut self.buf)
            .with_context(|| format!("reading {}", self.name))?;
        if n == 0 {
            self.ended = true;
            return Ok(None);
        }
        self.line += 1;
        let (name, line) = (&self.name, self.line);
        if n as u64 > MAX_LINE_BYTES {
            bail!("{name}:{line}: line is longer than {} MiB", MAX_LINE_BYTES >> 20);
        }
        if line == 1 && self.buf.starts_with(b"\xef\xbb\xbf") {
            bail!("{name}:1: starts with a UTF-8 byte-order mark; save the file without it");
        }
        let text = std::str::from_utf8(&self.buf).map_err(|e| {
            anyhow::anyhow!(
                "{name}:{line}: not valid UTF-8 (byte {} of the line)",
                e.valid_up_to() + 1
            )
        })?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        Ok(Some((self.line, text.to_string())))
    }
}
