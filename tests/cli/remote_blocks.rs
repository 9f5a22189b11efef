//! `ls` and `diff` on remote archives (`ipfs://CID`, a bare CID, the `http://` URL of a CARv2),
//! through the test's trustless gateway and range server and through Kubo's gateway: the same
//! blocks, sizes and roles as the file, in its order (without offsets), and the same diff on any
//! mix of local and remote archives.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::common::*;
use crate::fake_server::Server;
use crate::kubo::Kubo;
use crate::remote::{archive, block_requests, blocks_of, gateway, range_server, served, Behaviour};

/// `vecar ls --json` of the file `car`, with every offset null, as a remote archive lists it.
fn ls_without_offsets(car: &Path) -> Vec<Value> {
    let mut lines = vecar(&["ls", "--json", s(car)]).ok().json_lines();
    for line in &mut lines {
        assert!(line["offset"].is_u64(), "a file's blocks have offsets: {line}");
        line["offset"] = Value::Null;
    }
    lines
}

/// `args` with `--gateway URL` for each of `gateways`, and `--no-cache`.
fn through(args: &[&str], gateways: &[&Server]) -> crate::common::Run {
    let bases: Vec<String> = gateways.iter().map(|g| g.base()).collect();
    let mut all = args.to_vec();
    for base in &bases {
        all.extend(["--gateway", base]);
    }
    all.push("--no-cache");
    vecar(&all)
}

#[test]
fn ls_of_a_remote_archive_lists_the_files_blocks_in_its_order_and_fetches_no_vectors_or_index() {
    let served = served(600);
    let (car, root, honest) = (&served.car, &served.root, &served.gateway);
    let web = range_server(std::fs::read(car).unwrap(), true);
    let local_text = vecar(&["ls", s(car)]).ok().stdout;
    let local_json = ls_without_offsets(car);
    let bulk: HashSet<String> = local_json
        .iter()
        .filter(|line| line["role"] == "vectors" || line["role"] == "index")
        .map(|line| line["cid"].as_str().unwrap().to_string())
        .collect();
    assert!(bulk.len() >= 2, "the archive has vectors and index chunks");

    let url = format!("{}/x.car", web.base());
    for remote in [format!("ipfs://{root}"), root.clone(), url] {
        let before = honest.requests().len();
        assert_eq!(through(&["ls", &remote], &[honest]).ok().stdout, local_text, "{remote}");
        assert_eq!(
            through(&["ls", "--json", &remote], &[honest]).ok().json_lines(),
            local_json,
            "{remote}"
        );
        let asked: Vec<String> = honest.requests()[before..].iter().map(|r| r.path.clone()).collect();
        let fetched_bulk = asked
            .iter()
            .filter(|path| bulk.iter().any(|cid| path.contains(cid)))
            .count();
        assert_eq!(fetched_bulk, 0, "{remote}: ls fetched vectors or index chunks");
    }
    let listed = block_requests(honest);
    assert!(listed > 0 && web.requests().len() > 2, "both servers were read");
}

#[test]
fn diff_is_the_same_on_any_mix_of_local_and_remote_archives() {
    let dir = tempdir();
    // The same generator: b's first 600 records are a's, then 40 more.
    let a = archive(dir.path(), "a.car", 600, &[]);
    let b = archive(dir.path(), "b.car", 640, &[]);
    let mut blocks = blocks_of(&a);
    blocks.extend(blocks_of(&b));
    let honest = gateway(blocks, Behaviour::Honest);
    let web = range_server(std::fs::read(&b).unwrap(), true);
    let (a_ipfs, b_ipfs) = (format!("ipfs://{}", root_of(&a)), format!("ipfs://{}", root_of(&b)));
    let b_url = format!("{}/x.car", web.base());
    let local_json = vecar(&["diff", "--json", s(&a), s(&b)]).ok().stdout;
    let local_text = vecar(&["diff", s(&a), s(&b)]).ok().stdout;
    assert!(
        local_text.contains("ids: 40 added, 0 removed, 0 changed, 600 unchanged"),
        "{local_text}"
    );
    for (first, second) in [
        (a_ipfs.as_str(), s(&b)),
        (s(&a), b_ipfs.as_str()),
        (a_ipfs.as_str(), b_ipfs.as_str()),
        (a_ipfs.as_str(), b_url.as_str()),
    ] {
        let json = through(&["diff", "--json", first, second], &[&honest]).ok().stdout;
        assert_eq!(json, local_json, "{first} {second}");
        let text = through(&["diff", first, second], &[&honest]).ok().stdout;
        let named = local_text.replace(s(&a), first).replace(s(&b), second);
        assert_eq!(text, named, "{first} {second}");
        let changed = through(&["diff", "--exit-code", first, second], &[&honest]);
        assert_eq!(changed.code, 1, "{first} {second}");
    }
    // Without a cache or a temporary folder: two files need none; a remote archive is fetched
    // twice instead.
    let nowhere = [("TMPDIR", "/nonexistent/vecar")];
    let files = vecar_with_env(&["diff", "--json", s(&a), s(&b), "--no-cache"], b"", &nowhere);
    assert_eq!(files.ok().stdout, local_json);
    let gateway = honest.base();
    let remote = ["diff", "--json", &a_ipfs, s(&b), "--gateway", &gateway, "--no-cache"];
    assert_eq!(vecar_with_env(&remote, b"", &nowhere).ok().stdout, local_json);
    let same = through(&["diff", "--exit-code", s(&a), &a_ipfs], &[&honest]);
    assert_eq!(same.code, 0);
    assert!(same.stdout.contains("0 only in"), "{}", same.stdout);
}

#[test]
fn ls_and_diff_refuse_a_lying_gateway_and_pass_it_over_for_an_honest_one() {
    let dir = tempdir();
    let car = archive(dir.path(), "a.car", 300, &[]);
    let root = root_of(&car);
    let remote = format!("ipfs://{root}");
    let (liar, honest) = (
        gateway(blocks_of(&car), Behaviour::Lying),
        gateway(blocks_of(&car), Behaviour::Honest),
    );
    for args in [
        vec!["ls", remote.as_str()],
        vec!["diff", "--json", s(&car), remote.as_str()],
    ] {
        let refused = through(&args, &[&liar]);
        refused.fails_with(&format!("block {root}: no source gave it"));
        refused.fails_with("sent bytes that do not match the CID");
        assert_eq!(refused.stdout, "");
        let mut local = args.clone();
        *local.last_mut().unwrap() = s(&car);
        let expected = vecar(&local).ok().stdout;
        assert_eq!(through(&args, &[&liar, &honest]).ok().stdout, expected, "{args:?}");
    }
}

#[test]
#[ignore = "needs Kubo: tests/kubo/install.sh"]
fn ls_and_diff_through_kubos_gateway_equal_the_files() {
    let dir = tempdir();
    let a = archive(dir.path(), "a.car", 500, &[]);
    let b = archive(dir.path(), "b.car", 520, &[]);
    let kubo = Kubo::init();
    let daemon = kubo.daemon();
    for car in [&a, &b] {
        vecar(&["push", s(car), "--api", &daemon.api]).ok();
    }
    let (a_ipfs, b_ipfs) = (format!("ipfs://{}", root_of(&a)), format!("ipfs://{}", root_of(&b)));
    let net = ["--gateway", daemon.gateway.as_str(), "--no-cache"];
    let run = |args: &[&str]| vecar(&[args, &net[..]].concat()).ok();
    assert_eq!(run(&["ls", "--json", &a_ipfs]).json_lines(), ls_without_offsets(&a));
    assert_eq!(
        run(&["diff", "--json", &a_ipfs, &b_ipfs]).stdout,
        vecar(&["diff", "--json", s(&a), s(&b)]).ok().stdout
    );
}
