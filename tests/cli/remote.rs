//! Remote archives: `ipfs://CID` through trustless gateways played by the test (following the
//! trustless gateway spec's `GET /ipfs/{cid}?format=raw`, with faults injected) and through a real
//! Kubo daemon; `http://` URLs of a CARv2 through a range-serving server played by the test. Every
//! answer must equal the local file's, byte for byte.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use crate::fake_server::{serve, Request, Response, Server};
use crate::kubo::Kubo;

/// An archive of `n` records of 32 dimensions with texts long enough to fill several records
/// chunks, written to `dir/name`.
pub fn archive(dir: &Path, name: &str, n: usize, flags: &[&str]) -> PathBuf {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut lines = String::new();
    for i in 0..n {
        let vector: Vec<String> = (0..32)
            .map(|_| format!("{:.4}", (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0))
            .collect();
        let text = format!("record {i} ").repeat(30);
        lines.push_str(&format!(
            "{{\"id\":\"r{i}\",\"vector\":[{}],\"text\":\"{text}\"}}\n",
            vector.join(",")
        ));
    }
    let input = dir.join(format!("{name}.jsonl"));
    std::fs::write(&input, lines).unwrap();
    let car = dir.join(name);
    let mut args = vec!["build", s(&input), "-o", s(&car), "--threads", "1"];
    args.extend(flags);
    vecar(&args).ok();
    car
}

/// Every block of a CAR file, by CID, read through `vecar ls --json` (the section's offset and
/// the block's size: the block is the section's last bytes).
pub fn blocks_of(car: &Path) -> HashMap<String, Vec<u8>> {
    let file = std::fs::read(car).unwrap();
    let mut blocks = HashMap::new();
    for line in vecar(&["ls", "--json", s(car)]).ok().json_lines() {
        let (offset, size) = (
            line["offset"].as_u64().unwrap() as usize,
            line["size"].as_u64().unwrap() as usize,
        );
        let (mut len, mut shift, mut at) = (0usize, 0, offset);
        loop {
            let byte = file[at];
            len |= ((byte & 0x7f) as usize) << shift;
            at += 1;
            shift += 7;
            if byte < 0x80 {
                break;
            }
        }
        let end = at + len;
        blocks.insert(
            line["cid"].as_str().unwrap().to_string(),
            file[end - size..end].to_vec(),
        );
    }
    blocks
}

/// An archive in a temporary folder, served by an honest gateway, with a cache folder beside it.
pub struct Served {
    /// The folder, removed with this.
    _dir: tempfile::TempDir,
    pub car: PathBuf,
    pub root: String,
    /// `ipfs://` and the root.
    pub remote: String,
    pub gateway: Server,
    pub cache: PathBuf,
}

/// An archive of `n` records (see [`archive`]) served by an honest gateway.
pub fn served(n: usize) -> Served {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", n, &[]);
    let root = root_of(&car);
    Served {
        gateway: gateway(blocks_of(&car), Behaviour::Honest),
        cache: dir.path().join("cache"),
        remote: format!("ipfs://{root}"),
        root,
        car,
        _dir: dir,
    }
}

/// How a test gateway answers a block it has.
#[derive(Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// The block's bytes.
    Honest,
    /// Other bytes of the same length.
    Lying,
    /// 404 for everything.
    Empty,
    /// 503 with `Retry-After: 0` the first time each block is asked for, then the block.
    Flaky,
    /// More than 1 MiB.
    Huge,
    /// The first half of the block, then the connection closes.
    Truncated,
    /// The block after 3 s.
    Slow,
}

/// A trustless gateway serving `blocks` as `behaviour` says; it checks that each request is
/// `GET /ipfs/{cid}?format=raw` with `Accept: application/vnd.ipld.raw`, as the spec has it.
pub fn gateway(blocks: HashMap<String, Vec<u8>>, behaviour: Behaviour) -> Server {
    let seen = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
    serve(move |request: &Request| {
        let Some(cid) = request
            .path
            .strip_prefix("/ipfs/")
            .and_then(|p| p.strip_suffix("?format=raw"))
        else {
            return Response::text(400, "not a trustless block request");
        };
        assert_eq!(request.method, "GET");
        assert_eq!(request.header("accept"), Some("application/vnd.ipld.raw"));
        let Some(block) = blocks.get(cid) else {
            return Response::text(404, "no such block");
        };
        let raw = |body: Vec<u8>| Response::bytes(200, body).header("Content-Type", "application/vnd.ipld.raw");
        let times = {
            let mut seen = seen.lock().unwrap();
            let n = seen.entry(cid.to_string()).or_default();
            *n += 1;
            *n
        };
        match behaviour {
            Behaviour::Honest => raw(block.clone()),
            Behaviour::Lying => raw(block.iter().map(|b| b ^ 0x55).collect()),
            Behaviour::Empty => Response::text(404, "no such block"),
            Behaviour::Flaky if times == 1 => Response::text(503, "busy").header("Retry-After", "0"),
            Behaviour::Flaky => raw(block.clone()),
            Behaviour::Huge => raw(vec![0; (1 << 20) + 10]),
            Behaviour::Slow => {
                std::thread::sleep(std::time::Duration::from_secs(3));
                raw(block.clone())
            }
            Behaviour::Truncated => raw(block[..block.len() / 2].to_vec()).claiming(block.len()),
        }
    })
}

/// A web server for `file` that answers `Range: bytes=A-B` with 206 and `Content-Range` as
/// RFC 9110 says; or, with `ranges` false, the whole file with 200, as a server that ignores
/// ranges does.
pub fn range_server(file: Vec<u8>, ranges: bool) -> Server {
    serve(move |request: &Request| {
        assert_eq!(request.method, "GET");
        if request.path != "/x.car" {
            return Response::text(404, "not found");
        }
        let range = request.header("range").and_then(|r| r.strip_prefix("bytes="));
        match range.and_then(|r| r.split_once('-')) {
            Some((a, b)) if ranges => {
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                if a >= file.len() {
                    return Response::text(416, "").header("Content-Range", &format!("bytes */{}", file.len()));
                }
                let b = b.min(file.len() - 1);
                Response::bytes(206, file[a..=b].to_vec())
                    .header("Content-Range", &format!("bytes {a}-{b}/{}", file.len()))
            }
            _ => Response::bytes(200, file.clone()),
        }
    })
}

/// The requests a server got for blocks (paths under /ipfs/).
pub fn block_requests(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/ipfs/"))
        .count()
}

fn queries(n: usize) -> Vec<u8> {
    let mut state = 7u64;
    let mut out = String::new();
    for _ in 0..n {
        let vector: Vec<String> = (0..32)
            .map(|_| format!("{:.3}", (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0))
            .collect();
        out.push_str(&format!("{{\"vector\":[{}]}}\n", vector.join(",")));
    }
    out.into_bytes()
}

#[test]
fn ipfs_queries_equal_local_ones_and_fetch_only_what_they_need() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 3000, &[]);
    let root = root_of(&car);
    let blocks = blocks_of(&car);
    let honest = gateway(blocks.clone(), Behaviour::Honest);
    let cache = dir.path().join("cache");
    let local = vecar_with_stdin(&["query", s(&car), "-k", "5"], &queries(4))
        .ok()
        .stdout;

    let remote = format!("ipfs://{root}");
    let args = [
        "query",
        &remote,
        "-k",
        "5",
        "--gateway",
        &honest.base(),
        "--cache",
        s(&cache),
    ];
    let first = vecar_with_stdin(&args, &queries(4)).ok();
    assert_eq!(first.stdout, local);
    let cold = block_requests(&honest);
    assert!(cold < blocks.len(), "a query fetched {cold} of {} blocks", blocks.len());
    let said = &first.stderr;
    assert!(said.contains(&format!(" in {cold} requests, ")), "{said}");
    assert!(said.contains("; 0 blocks from the cache"), "{said}");
    // Warm: the same query fetches nothing.
    let second = vecar_with_stdin(&args, &queries(4)).ok();
    assert_eq!(second.stdout, local);
    assert_eq!(block_requests(&honest), cold, "a warm query fetched blocks");
    let said = &second.stderr;
    assert!(said.contains("fetched 0 bytes in 0 requests, 0 round trips"), "{said}");
    let info = vecar(&["cache", "info", "--cache", s(&cache)]).ok().stdout;
    assert!(info.contains(&format!("{cold} blocks")), "{info}");

    // A bare CID, and VECAR_GATEWAY instead of --gateway.
    let bare = vecar_with_env(
        &["query", &root, "-k", "5", "--no-cache"],
        &queries(4),
        &[("VECAR_GATEWAY", &format!(",{}", honest.base()))],
    );
    assert_eq!(bare.ok().stdout, local);

    assert!(vecar(&["cache", "clear", "--cache", s(&cache)])
        .ok()
        .stdout
        .contains("removed"));
    assert!(vecar(&["cache", "info", "--cache", s(&cache)])
        .ok()
        .stdout
        .contains(": 0 blocks, 0 bytes"));
}

#[test]
fn every_read_command_works_on_ipfs_and_on_a_url_as_on_the_file() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 600, &[]);
    let root = root_of(&car);
    let all = blocks_of(&car);
    let blocks = all.len();
    let honest = gateway(all, Behaviour::Honest);
    let web = range_server(std::fs::read(&car).unwrap(), true);
    let ipfs = format!("ipfs://{root}");
    let url = format!("{}/x.car", web.base());
    for remote in [ipfs.as_str(), url.as_str()] {
        let net = ["--gateway", &honest.base(), "--no-cache"];
        let run = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(net);
            vecar(&all).ok().stdout
        };
        assert_eq!(
            run(&["export", remote]),
            vecar(&["export", s(&car)]).ok().stdout,
            "{remote}"
        );
        assert_eq!(
            run(&["get", remote, "r7", "r599"]),
            vecar(&["get", s(&car), "r7", "r599"]).ok().stdout
        );
        assert_eq!(run(&["root", remote]).trim(), root);
        let before = honest.requests().len() + web.requests().len();
        let verified = run(&["verify", remote]);
        let asked = honest.requests().len() + web.requests().len() - before;
        // Every block once (by ranges: the headers and the index too), never twice.
        assert!(asked <= blocks + 2, "verify sent {asked} requests for {blocks} blocks");
        assert!(
            verified.contains("ok, ") && verified.contains("600 records"),
            "{verified}"
        );
        let info = run(&["info", "--json", remote]);
        assert!(info.contains("\"count\":600"), "{info}");
        let q = vecar_with_stdin(
            &["query", remote, "-k", "3", "--gateway", &honest.base(), "--no-cache"],
            &queries(3),
        );
        assert_eq!(
            q.ok().stdout,
            vecar_with_stdin(&["query", s(&car), "-k", "3"], &queries(3))
                .ok()
                .stdout
        );
        // An update on a remote base writes the same archive as on the file.
        let (out_remote, out_local) = (dir.path().join("r.car"), dir.path().join("l.car"));
        run(&["rm", remote, "r3", "--threads", "1", "-o", s(&out_remote)]);
        vecar(&["rm", s(&car), "r3", "--threads", "1", "-o", s(&out_local)]).ok();
        assert_eq!(root_of(&out_remote), root_of(&out_local));
    }
}

#[test]
fn lying_missing_and_flaky_gateways_change_no_answer() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 600, &[]);
    let root = root_of(&car);
    let blocks = blocks_of(&car);
    let local = vecar_with_stdin(&["query", s(&car), "-k", "4"], &queries(3))
        .ok()
        .stdout;
    let remote = format!("ipfs://{root}");
    let query = |gateways: &[&Server]| {
        let mut args = vec![
            "query".to_string(),
            remote.clone(),
            "-k".into(),
            "4".into(),
            "--no-cache".into(),
        ];
        for g in gateways {
            args.extend(["--gateway".into(), g.base()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vecar_with_stdin(&args, &queries(3))
    };
    let honest = gateway(blocks.clone(), Behaviour::Honest);
    for behaviour in [
        Behaviour::Lying,
        Behaviour::Empty,
        Behaviour::Huge,
        Behaviour::Truncated,
    ] {
        let bad = gateway(blocks.clone(), behaviour);
        assert_eq!(query(&[&bad, &honest]).ok().stdout, local);
    }
    let flaky = gateway(blocks.clone(), Behaviour::Flaky);
    assert_eq!(query(&[&flaky]).ok().stdout, local);
    let slow = gateway(blocks.clone(), Behaviour::Slow);
    let timed = [
        "query",
        &remote,
        "-k",
        "4",
        "--no-cache",
        "--timeout",
        "0.3",
        "--gateway",
        &slow.base(),
        "--gateway",
        &honest.base(),
    ];
    let started = std::time::Instant::now();
    assert_eq!(vecar_with_stdin(&timed, &queries(3)).ok().stdout, local);
    assert!(
        started.elapsed().as_secs() < 10,
        "a slow gateway is given up: {:?}",
        started.elapsed()
    );

    let (liar, empty) = (
        gateway(blocks.clone(), Behaviour::Lying),
        gateway(blocks.clone(), Behaviour::Empty),
    );
    let failed = query(&[&liar, &empty]);
    failed.fails_with(&format!("block {root}: no source gave it"));
    failed.fails_with(&format!("{}: sent bytes that do not match the CID", liar.base()));
    failed.fails_with(&format!("{}: does not have it", empty.base()));
    assert_eq!(failed.stdout, "");
}

#[test]
fn a_corrupt_cache_file_is_dropped_and_fetched_again() {
    let served = served(600);
    let (car, remote, honest, cache) = (&served.car, &served.remote, &served.gateway, &served.cache);
    let args = ["export", remote, "--gateway", &honest.base(), "--cache", s(cache)];
    let local = vecar(&["export", s(car)]).ok().stdout;
    assert_eq!(vecar(&args).ok().stdout, local);
    let before = block_requests(honest);
    let mut corrupted = 0;
    for shard in std::fs::read_dir(cache.join("blocks")).unwrap() {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[0] ^= 1;
            std::fs::write(&path, bytes).unwrap();
            corrupted += 1;
        }
    }
    assert_eq!(vecar(&args).ok().stdout, local);
    assert_eq!(
        block_requests(honest) - before,
        corrupted,
        "every corrupt block is fetched again"
    );
}

#[test]
fn urls_need_a_carv2_index_and_a_server_that_answers_ranges() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 300, &[]);
    let v1 = archive(dir.path(), "v1.car", 300, &["--car-v1"]);
    let no_ranges = range_server(std::fs::read(&car).unwrap(), false);
    let url = format!("{}/x.car", no_ranges.base());
    let failed = vecar(&["info", &url]);
    failed.fails_with("does not answer range requests");
    assert_eq!(no_ranges.requests().len(), 1, "one request, then no download");
    let carv1 = range_server(std::fs::read(&v1).unwrap(), true);
    let vector = format!("[{}0.1]", "0.1,".repeat(31));
    vecar(&["query", &format!("{}/x.car", carv1.base()), "--vector", &vector])
        .fails_with("is a CARv1, so its blocks cannot be found without downloading all of it");
    let missing = range_server(Vec::new(), true);
    vecar(&["info", &format!("{}/nope.car", missing.base())]).fails_with("HTTP 404");
}

#[test]
#[ignore = "needs Kubo: tests/kubo/install.sh"]
fn kubo_serves_ipfs_queries_through_its_gateway_and_its_api() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 1000, &[]);
    let root = root_of(&car);
    let kubo = Kubo::init();
    let daemon = kubo.daemon();
    vecar(&["push", s(&car), "--api", &daemon.api]).ok();
    let local = vecar_with_stdin(&["query", s(&car), "-k", "5"], &queries(5))
        .ok()
        .stdout;
    let remote = format!("ipfs://{root}");
    for source in [["--gateway", daemon.gateway.as_str()], ["--api", daemon.api.as_str()]] {
        let mut args = vec!["query", remote.as_str(), "-k", "5", "--no-cache"];
        args.extend(source);
        assert_eq!(vecar_with_stdin(&args, &queries(5)).ok().stdout, local, "{source:?}");
        let mut verify = vec!["verify", remote.as_str(), "--no-cache"];
        verify.extend(source);
        assert!(vecar(&verify).ok().stdout.contains("1000 records"));
    }
}

#[test]
fn a_partitioned_archive_over_ipfs_fetches_only_the_probed_partitions() {
    let dir = tempdir();
    let car = archive(
        dir.path(),
        "p.car",
        3000,
        &["--index", "partitioned", "--partitions", "30"],
    );
    let root = root_of(&car);
    let blocks = blocks_of(&car);
    let partitions: Vec<String> = vecar(&["ls", "--json", s(&car)])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|b| b["role"] == "partitions")
        .map(|b| b["cid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        partitions.len() >= 25,
        "30 partitions of ~100 rows, one block each: {}",
        partitions.len()
    );
    let honest = gateway(blocks, Behaviour::Honest);
    let local = vecar_with_stdin(&["query", s(&car), "-k", "5", "--nprobe", "2"], &queries(1))
        .ok()
        .stdout;
    let remote = format!("ipfs://{root}");
    let base = honest.base();
    let args = [
        "query",
        &remote,
        "-k",
        "5",
        "--nprobe",
        "2",
        "--gateway",
        &base,
        "--no-cache",
    ];
    assert_eq!(vecar_with_stdin(&args, &queries(1)).ok().stdout, local);
    let fetched = honest
        .requests()
        .iter()
        .filter(|r| partitions.iter().any(|cid| r.path == format!("/ipfs/{cid}?format=raw")))
        .count();
    assert!(
        (1..=2).contains(&fetched),
        "a query probing 2 partitions fetched {fetched} partition blocks"
    );
    let verified = vecar(&["verify", &remote, "--gateway", &honest.base(), "--no-cache"]).ok();
    assert!(verified.stdout.contains("ok"), "{}", verified.stdout);
    let listed = |target: &str| {
        let mut lines = vecar(&["ls", "--json", target, "--gateway", &honest.base(), "--no-cache"])
            .ok()
            .json_lines();
        lines
            .iter_mut()
            .for_each(|line| line["offset"] = serde_json::Value::Null);
        lines
    };
    assert_eq!(listed(&remote), listed(s(&car)));
}

#[test]
fn ls_info_get_and_exact_queries_of_a_remote_partitioned_archive_leave_its_centroids_to_a_query() {
    // 300 centroids of 1024 dimensions: 1.2 MB, two blocks (one alone is never asked ahead).
    let dir = tempdir();
    let mut state = 0x5eed_u64;
    let lines: String = (0..300)
        .map(|i| {
            let vector: Vec<f32> = (0..1024)
                .map(|_| (xorshift(&mut state) % 2000) as f32 / 1000.0 - 1.0)
                .collect();
            format!("{}\n", serde_json::json!({"id": format!("r{i}"), "vector": vector}))
        })
        .collect();
    let (input, car) = (dir.path().join("p.jsonl"), dir.path().join("p.car"));
    std::fs::write(&input, lines).unwrap();
    vecar(&["build", s(&input), "-o", s(&car), "--partitions", "300"]).ok();
    let centroids: Vec<String> = vecar(&["ls", "--json", s(&car)])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|b| b["role"] == "index")
        .map(|b| b["cid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(centroids.len(), 2);
    let honest = gateway(blocks_of(&car), Behaviour::Honest);
    let (remote, base) = (format!("ipfs://{}", root_of(&car)), honest.base());
    let net = ["--gateway", base.as_str(), "--no-cache"];
    // How many centroid blocks the gateway was asked for from request `from` on; the run's own
    // count of requests on stderr must be the gateway's.
    let asked = |from: usize, run: &Run| {
        let requests = &honest.requests()[from..];
        let said = format!(" in {} requests, ", requests.len());
        assert!(run.stderr.contains(&said), "{said}: {}", run.stderr);
        let is_centroid = |path: &String| centroids.iter().any(|cid| path.contains(cid.as_str()));
        requests.iter().filter(|r| is_centroid(&r.path)).count()
    };
    let exact = vec!["query", &remote, "--like", "r7", "-k", "3", "--exact"];
    for command in [
        vec!["ls", &remote],
        vec!["info", &remote],
        vec!["get", &remote, "r7"],
        exact,
    ] {
        let before = honest.requests().len();
        let run = vecar(&[&command[..], &net].concat()).ok();
        assert_eq!(asked(before, &run), 0, "{command:?} fetched centroids");
    }
    let before = honest.requests().len();
    let run = vecar(&[&["query", &remote, "--like", "r7", "-k", "3"][..], &net].concat()).ok();
    assert_eq!(asked(before, &run), 2, "a query reads the centroids");
}
