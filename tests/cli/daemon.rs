//! An IPFS node's daemon started by a test (Kubo or js-ipfs), offline, its RPC API and gateway on
//! free ports of 127.0.0.1; killed when dropped, also when a test fails.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a daemon may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The starts of the lines by which a daemon says where it listens (each followed by the port and
/// maybe `/http`), and the text of the line that says it is ready.
pub struct Banner {
    pub api: &'static str,
    pub gateway: &'static str,
    pub ready: &'static str,
}

/// A running daemon.
pub struct Daemon {
    child: Child,
    /// Where the daemon's stderr goes, shown when it does not get ready.
    log: tempfile::NamedTempFile,
    /// The RPC API's base URL.
    pub api: String,
    /// The gateway's base URL.
    pub gateway: String,
}

impl Daemon {
    /// Starts `command` and reads its stdout until the `banner.ready` line (at most 60 s), taking
    /// the API's and the gateway's ports from the lines `banner` names.
    pub fn start(mut command: Command, banner: &Banner) -> Daemon {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        // Reads stdout to its end, so that the daemon never writes to a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut daemon = Daemon {
            child,
            log,
            api: String::new(),
            gateway: String::new(),
        };
        let url = |port: &str| format!("http://127.0.0.1:{}", port.split('/').next().unwrap());
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received.recv_timeout(left).unwrap_or_else(|e| {
                let log = std::fs::read_to_string(daemon.log.path()).unwrap_or_default();
                panic!("{command:?} is not ready within {READY_WITHIN:?} ({e}); its stderr: {log}")
            });
            if let Some(port) = line.strip_prefix(banner.api) {
                daemon.api = url(port);
            } else if let Some(port) = line.strip_prefix(banner.gateway) {
                daemon.gateway = url(port);
            } else if line.contains(banner.ready) {
                assert!(
                    !daemon.api.is_empty() && !daemon.gateway.is_empty(),
                    "{command:?} said no API or gateway address"
                );
                return daemon;
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
