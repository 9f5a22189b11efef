//! Kubo, the reference IPFS node, imports every kind of archive vecar writes and exports the same
//! blocks back. `ipfs` is Kubo v0.43.1, built by `tests/kubo/install.sh` (run by `.ci/run`);
//! `VECAR_IPFS` may name another binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::*;
use crate::daemon::{Banner, Daemon};

/// The Kubo version the tests are written against.
const KUBO_VERSION: &str = "0.43.1";

/// A Kubo repo in a temporary folder, used offline and removed at the end of the test.
pub struct Kubo {
    binary: PathBuf,
    repo: tempfile::TempDir,
}

impl Kubo {
    /// A fresh repo made by `ipfs init --profile test` (no bootstrap peers, no network).
    pub fn init() -> Kubo {
        let binary = ipfs_binary();
        let kubo = Kubo {
            binary,
            repo: tempdir(),
        };
        kubo.ipfs(&["init", "--profile", "test"]);
        kubo
    }

    /// The repo folder (`IPFS_PATH`).
    pub fn repo(&self) -> &Path {
        self.repo.path()
    }

    /// An `ipfs` command on this repo, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).env("IPFS_PATH", self.repo());
        command
    }

    /// Runs `ipfs ARGS` offline on this repo; asserts it succeeds and returns its stdout.
    #[track_caller]
    pub fn ipfs(&self, args: &[&str]) -> Vec<u8> {
        let out = run(self.command(&[&["--offline"], args].concat()));
        assert!(
            out.status.success(),
            "ipfs {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// The `ipfs` binary: `VECAR_IPFS`, else the one tests/kubo/install.sh builds into
/// `$(go env GOPATH)/bin`, else `ipfs` on the PATH. Panics, saying how to install it, when it
/// does not run or is not Kubo v0.43.1.
fn ipfs_binary() -> PathBuf {
    let binary = match std::env::var_os("VECAR_IPFS") {
        Some(binary) => PathBuf::from(binary),
        None => go_bin().filter(|path| path.is_file()).unwrap_or_else(|| "ipfs".into()),
    };
    let version = Command::new(&binary).args(["version", "--number"]).output();
    let version = version.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    match version {
        Ok(v) if v == KUBO_VERSION => binary,
        found => panic!(
            "Kubo's `ipfs` v{KUBO_VERSION} is needed ({} gave {found:?}): tests/kubo/install.sh \
             (run by .ci/run) builds it with Go from the Go module proxy into $(go env GOPATH)/bin \
             (or set VECAR_IPFS to the binary)",
            binary.display()
        ),
    }
}

/// `$(go env GOPATH)/bin/ipfs`, where tests/kubo/install.sh puts Kubo; `None` without Go.
fn go_bin() -> Option<PathBuf> {
    let out = Command::new("go").args(["env", "GOPATH"]).output().ok()?;
    let gopath = String::from_utf8(out.stdout).ok()?;
    Some(Path::new(gopath.trim()).join("bin/ipfs"))
}

fn run(mut command: Command) -> Output {
    command.output().expect("ipfs runs")
}

#[test]
#[ignore = "needs Kubo: tests/kubo/install.sh"]
fn kubo_imports_every_kind_of_archive_and_exports_the_same_blocks() {
    let dir = tempdir();
    let kubo = Kubo::init();
    for car in every_kind_of_archive(dir.path()) {
        let info = &vecar(&["info", "--json", s(&car)]).ok().json_lines()[0];
        let root = info["root"].as_str().unwrap();
        let report = kubo.ipfs(&["dag", "import", "--stats", "--enc=json", s(&car)]);
        let lines: Vec<Value> = String::from_utf8(report)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("Kubo's JSON report"))
            .collect();
        let name = car.display();
        assert_eq!(lines.len(), 2, "{name}: {lines:?}");
        assert_eq!(lines[0]["Root"]["Cid"]["/"], root, "{name}: {lines:?}");
        assert_eq!(lines[0]["Root"]["PinErrorMsg"], "", "{name}");
        assert_eq!(lines[1]["Stats"]["BlockCount"], info["blocks"], "{name}");
        assert_eq!(lines[1]["Stats"]["BlockBytesCount"], info["block_bytes"], "{name}");
        let pins = String::from_utf8(kubo.ipfs(&["pin", "ls", "--type=recursive", "--quiet", root])).unwrap();
        assert_eq!(pins.trim(), root, "{name}: Kubo did not pin the root");

        let exported = dir.path().join("exported.car");
        std::fs::write(&exported, kubo.ipfs(&["dag", "export", root])).unwrap();
        let verified = vecar(&["verify", s(&exported)]).ok();
        assert!(verified.stdout.contains(&format!("root {root}")), "{}", verified.stdout);
        assert_eq!(block_cids(&exported), block_cids(&car), "{name}");
        assert_eq!(
            vecar(&["export", s(&exported)]).ok().stdout,
            vecar(&["export", s(&car)]).ok().stdout,
            "{name}"
        );
    }
}

impl Kubo {
    /// Starts `ipfs daemon --offline` (its test profile asks for port 0) and waits until it is
    /// ready.
    pub fn daemon(&self) -> Daemon {
        let banner = Banner {
            api: "RPC API server listening on /ip4/127.0.0.1/tcp/",
            gateway: "Gateway server listening on /ip4/127.0.0.1/tcp/",
            ready: "Daemon is ready",
        };
        Daemon::start(self.command(&["daemon", "--offline"]), &banner)
    }
}
