//! Running vecar with its stderr (and, if asked, its stdin) on a pseudo-terminal, to see what a
//! person at a terminal sees: progress bars, hints.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where vecar's standard input comes from.
pub enum Stdin<'a> {
    /// A pipe carrying these bytes.
    Pipe(&'a [u8]),
    /// The terminal, where these bytes are typed (echo off), then Ctrl-D.
    Typed(&'a [u8]),
}

/// The outcome of one run of vecar on a terminal.
pub struct Screen {
    pub code: i32,
    pub stdout: String,
    /// Everything vecar wrote to the terminal (its stderr), escape sequences and all.
    pub terminal: String,
}

/// A pseudo-terminal of 100 columns: its (master, slave) ends.
fn open_terminal() -> (File, File) {
    let (mut master, mut slave) = (-1, -1);
    let mut size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let made = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut size,
        )
    };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty gave two open descriptors that nothing else owns.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    let mut modes: libc::termios = unsafe { std::mem::zeroed() };
    unsafe {
        // Not inherited as they are: vecar gets the slave end as its stderr (or stdin) only.
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            assert_eq!(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC), 0);
        }
        assert_eq!(libc::tcgetattr(slave.as_raw_fd(), &mut modes), 0);
        modes.c_lflag &= !libc::ECHO;
        assert_eq!(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &modes), 0);
    }
    (master, slave)
}

/// Runs vecar with `args`, its stderr on a terminal and its stdin from `stdin`.
pub fn on_terminal(args: &[&str], stdin: Stdin) -> Screen {
    run(args, stdin, false)
}

/// Runs vecar with `args`, its stdout and stderr on a terminal (so `Screen::stdout` is empty)
/// and nothing on its stdin.
pub fn all_on_terminal(args: &[&str]) -> Screen {
    run(args, Stdin::Pipe(b""), true)
}

fn run(args: &[&str], stdin: Stdin, stdout_too: bool) -> Screen {
    let (mut master, slave) = open_terminal();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vecar"));
    command.args(args).env("TERM", "xterm").env_remove("COLUMNS");
    command.stdout(match stdout_too {
        true => Stdio::from(OwnedFd::from(slave.try_clone().expect("a second descriptor"))),
        false => Stdio::piped(),
    });
    command.stdin(match stdin {
        Stdin::Pipe(_) => Stdio::piped(),
        Stdin::Typed(_) => Stdio::from(OwnedFd::from(slave.try_clone().expect("a second descriptor"))),
    });
    command.stderr(OwnedFd::from(slave));
    let mut child = command.spawn().expect("vecar starts");
    drop(command); // closes this process's slave ends
    let writer = match stdin {
        Stdin::Pipe(bytes) => {
            let (mut pipe, bytes) = (child.stdin.take().expect("stdin"), bytes.to_vec());
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })
        }
        Stdin::Typed(bytes) => {
            let mut typing = master.try_clone().expect("a second descriptor");
            let bytes = [bytes, b"\x04"].concat();
            std::thread::spawn(move || typing.write_all(&bytes).expect("typing on the terminal"))
        }
    };
    let out = child.stdout.take();
    let stdout = std::thread::spawn(move || {
        let mut stdout = String::new();
        if let Some(mut out) = out {
            out.read_to_string(&mut stdout).expect("stdout is UTF-8");
        }
        stdout
    });
    // Read the terminal until vecar has ended (not until the terminal closes: a process that
    // another test started at the wrong moment may hold it open too).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let code = loop {
        let ended = child.try_wait().expect("vecar runs");
        while waiting(&master, 0) {
            let mut buf = [0u8; 4096];
            match master.read(&mut buf) {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        if let Some(status) = ended {
            break status.code().expect("an exit code");
        }
        if Instant::now() > deadline {
            child.kill().expect("vecar is killed");
            panic!("vecar {args:?} did not end within a minute");
        }
        waiting(&master, 20);
    };
    writer.join().expect("the stdin writer");
    let stdout = stdout.join().expect("the stdout reader");
    let terminal = String::from_utf8_lossy(&seen).into_owned();
    Screen { code, stdout, terminal }
}

/// Whether the terminal has output to read, waiting up to `ms` milliseconds for some.
fn waiting(master: &File, ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd: master.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    unsafe { libc::poll(&mut poll, 1, ms) > 0 && poll.revents & libc::POLLIN != 0 }
}
