//! `vecar push` and `vecar pull --api` against js-ipfs 0.66.1, the JavaScript IPFS node, on
//! Node 22 (both pinned by tests/jsipfs/package-lock.json, installed by
//! `npm ci --prefix tests/jsipfs`; the tree ipfs@0.66.1's version ranges resolve to needs Node 22,
//! `Promise.withResolvers`): a second implementation of the RPC API, so vecar is known to speak
//! the API and not only Kubo. tests/jsipfs/package.json overrides `headless`, an optional
//! dependency that electron-eval names by a GitHub tarball URL npm cannot fetch here (which left
//! the lockfile out of step for `npm ci`), with its registry release 1.2.0.
//!
//! js-ipfs takes vecar's requests as they are (`dag/import`'s multipart form and `pin-roots`,
//! `dag/export`'s `arg` and `progress`, `block/get`, `block/stat`), but departs from Kubo's RPC
//! reference (docs.ipfs.tech/reference/kubo/rpc) in three ways:
//! - `dag/import` drops `stats=true`: its report is the `Root` line alone, without `Stats`, so
//!   vecar cannot compare block counts and relies on the recursive pin (with `--no-pin`, on
//!   `block/stat` of the root).
//! - It drops the global `offline=true`: asked for a block it does not hold (`block/get`,
//!   `block/stat`, `dag/export`), it waits for the network forever, even under
//!   `daemon --offline`, where Kubo answers 500 "block was not found locally (offline)"; vecar
//!   gives up after its idle timeout. No test waits for that.
//! - Its gateway is no trustless gateway: it ignores `?format=` and `Accept` and serves UnixFS
//!   only, so a raw block comes back as its bytes whatever format was asked for, and any dag-cbor
//!   block (an archive's root) is a 500 "An internal server error occurred". `pull --gateway`
//!   therefore fails, cleanly.

use std::path::{Path, PathBuf};
use std::process::Command;

use cid::Cid;
use serde_json::Value;

use crate::common::*;
use crate::daemon::{Banner, Daemon};

/// The js-ipfs version the tests are written against.
const JS_IPFS_VERSION: &str = "0.66.1";
/// The Node major version js-ipfs 0.66 runs on.
const NODE_MAJOR: &str = "v22.";
/// What to run when js-ipfs is missing.
const INSTALL: &str = "npm ci --prefix tests/jsipfs (run by .ci/run and the README's test command)";

/// A js-ipfs repo in a temporary folder, removed at the end of the test.
struct JsIpfs {
    modules: PathBuf,
    repo: tempfile::TempDir,
}

impl JsIpfs {
    /// A fresh repo made by `jsipfs init --profile test` (no bootstrap peers, no discovery), with
    /// every listener on a free port and no libp2p listener at all: in the tree that the
    /// lockfile pins (what ipfs@0.66.1's version ranges resolve to today), @libp2p/tcp 6.2 no
    /// longer recognises the addresses libp2p 0.42 hands it, so with any swarm address the
    /// daemon stops with "no valid addresses were provided for transports". An offline node
    /// needs none.
    fn init() -> JsIpfs {
        let js = JsIpfs {
            modules: installed(),
            repo: tempdir(),
        };
        js.jsipfs(&["init", "--profile", "test"]);
        let path = js.repo.path().join("config");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["Addresses"]["Swarm"] = serde_json::json!([]);
        // The test profile leaves the gRPC endpoint on the fixed port 5003.
        config["Addresses"]["RPC"] = "/ip4/127.0.0.1/tcp/0".into();
        std::fs::write(&path, config.to_string()).unwrap();
        js
    }

    /// A `jsipfs` command on this repo, not yet run.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.modules.join(".bin/node"));
        command
            .arg(self.modules.join("ipfs/src/cli.js"))
            .args(args)
            .env("IPFS_PATH", self.repo.path())
            .env("NO_UPDATE_NOTIFIER", "1");
        command
    }

    /// Runs `jsipfs ARGS` on this repo without a daemon (the CLI's HTTP client, used when a
    /// daemon runs, fails with "Invalid URL" in the pinned tree: tests ask the daemon's RPC API).
    #[track_caller]
    fn jsipfs(&self, args: &[&str]) {
        let out = self.command(args).output().expect("jsipfs runs");
        assert!(
            out.status.success(),
            "jsipfs {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `jsipfs daemon --offline` and waits until it is ready.
    fn daemon(&self) -> Daemon {
        let banner = Banner {
            api: "HTTP API listening on /ip4/127.0.0.1/tcp/",
            gateway: "Gateway (read only) listening on /ip4/127.0.0.1/tcp/",
            ready: "Daemon is ready",
        };
        Daemon::start(
            self.command(&["daemon", "--offline", "--enable-preload=false"]),
            &banner,
        )
    }
}

/// tests/jsipfs/node_modules, once it holds js-ipfs 0.66.1 and a Node 22; panics naming the
/// install command otherwise.
fn installed() -> PathBuf {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jsipfs/node_modules");
    let package = std::fs::read(modules.join("ipfs/package.json")).ok();
    let version = package
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .and_then(|p| p["version"].as_str().map(str::to_string));
    let node = Command::new(modules.join(".bin/node")).arg("--version").output();
    let node = node.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    match (&version, &node) {
        (Some(v), Ok(n)) if v == JS_IPFS_VERSION && n.starts_with(NODE_MAJOR) => modules,
        _ => panic!(
            "js-ipfs {JS_IPFS_VERSION} on Node {NODE_MAJOR}x is needed in {} (found js-ipfs {version:?}, \
             Node {node:?}): {INSTALL}",
            modules.display()
        ),
    }
}

/// The CIDs js-ipfs holds recursive pins on, asked of its RPC API (`pin/ls`).
fn recursive_pins(api: &str) -> Vec<Cid> {
    let url = format!("{api}/api/v0/pin/ls?type=recursive");
    let mut response = ureq::post(&url).send_empty().expect("pin/ls answers");
    let report: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let keys = report["Keys"].as_object().expect("a pin/ls report");
    keys.keys()
        .map(|key| Cid::try_from(key.as_str()).expect("a CID"))
        .collect()
}

fn cid(text: &str) -> Cid {
    Cid::try_from(text).unwrap()
}

#[test]
#[ignore = "needs npm ci --prefix tests/jsipfs"]
fn js_ipfs_takes_every_kind_of_archive_by_push_and_gives_it_back_by_pull() {
    let dir = tempdir();
    let js = JsIpfs::init();
    let daemon = js.daemon();
    let cars = every_kind_of_archive(dir.path());
    for car in &cars {
        let name = car.display();
        let root = root_of(car);
        let pushed = vecar(&["push", s(car), "--api", &daemon.api]).ok();
        assert_eq!(pushed.stdout.trim(), root, "{name}");
        assert!(recursive_pins(&daemon.api).contains(&cid(&root)), "{name}: not pinned");

        let pulled = dir
            .path()
            .join(format!("pulled-{}", car.file_name().unwrap().to_str().unwrap()));
        let run = vecar(&[
            "pull",
            &format!("ipfs://{root}"),
            "-o",
            s(&pulled),
            "--api",
            &daemon.api,
        ]);
        assert_eq!(run.ok().stdout.trim(), root, "{name}");
        assert_same_archive(&pulled, car);
        assert_eq!(block_cids(&pulled), block_cids(car), "{name}");
    }

    // Its gateway serves no dag-cbor block, whatever the format: a clean failure, no file.
    let root = root_of(&cars[0]);
    let out = dir.path().join("from-gateway.car");
    let run = vecar(&["pull", &root, "-o", s(&out), "--gateway", &daemon.gateway]);
    run.fails_with(&format!("{}: HTTP 500 Internal Server Error", daemon.gateway));
    assert!(!out.exists());
    // The node's API after that gateway: the next source is tried.
    let args = [
        "pull",
        &root,
        "-o",
        s(&out),
        "--gateway",
        &daemon.gateway,
        "--api",
        &daemon.api,
    ];
    vecar(&args).ok();
    assert_same_archive(&out, &cars[0]);

    // Remote reads through its block/get give the file's answers.
    let remote = format!("ipfs://{root}");
    let run = |command: &str, extra: &[&str], stdin: &[u8]| {
        let mut args = vec![command, remote.as_str()];
        args.extend(extra);
        args.extend(["--api", daemon.api.as_str(), "--no-cache"]);
        vecar_with_stdin(&args, stdin).ok().stdout
    };
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let local = vecar_with_stdin(&["query", s(&cars[0]), "-k", "3"], &queries)
        .ok()
        .stdout;
    assert_eq!(run("query", &["-k", "3"], &queries), local);
    assert_eq!(run("export", &[], b""), vecar(&["export", s(&cars[0])]).ok().stdout);
    run("verify", &[], b"");
}

#[test]
#[ignore = "needs npm ci --prefix tests/jsipfs"]
fn push_finds_js_ipfs_by_its_repo_and_can_leave_the_root_unpinned() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
    let root = root_of(&car);
    let js = JsIpfs::init();
    let daemon = js.daemon();
    // js-ipfs writes its API's address to `$IPFS_PATH/api` as `/ip4/127.0.0.1/tcp/PORT/http`.
    let env = [("IPFS_PATH", s(js.repo.path()))];
    let pushed = vecar_with_env(&["push", s(&car), "--no-pin"], b"", &env).ok();
    assert_eq!(pushed.stdout.trim(), root);
    assert!(
        !recursive_pins(&daemon.api).contains(&cid(&root)),
        "pinned with --no-pin"
    );
    let pulled = dir.path().join("pulled.car");
    vecar(&["pull", &root, "-o", s(&pulled), "--api", &daemon.api]).ok();
    assert_same_archive(&pulled, &car);
}
