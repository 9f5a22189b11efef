//! `vecar push` and `vecar pull` against a real Kubo daemon (offline, temp repo, free ports on
//! 127.0.0.1) and against a lying gateway played by the test.

use std::path::Path;

use crate::common::*;
use crate::fake_server::{serve, Response};
use crate::kubo::Kubo;

/// A port of 127.0.0.1 nothing listens on (bound, then released).
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
#[ignore = "needs Kubo: tests/kubo/install.sh"]
fn push_imports_into_kubo_and_pull_fetches_back_from_its_gateway_and_api() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let root = root_of(&car);
    let kubo = Kubo::init();
    let daemon = kubo.daemon();

    let pushed = vecar(&["push", s(&car), "--api", &daemon.api]).ok();
    assert_eq!(pushed.stdout.trim(), root);
    let pins = String::from_utf8(kubo.ipfs(&["pin", "ls", "--type=recursive", "--quiet", &root])).unwrap();
    assert_eq!(pins.trim(), root);
    let exported = dir.path().join("exported.car");
    std::fs::write(&exported, kubo.ipfs(&["dag", "export", &root])).unwrap();
    vecar(&["verify", s(&exported)]).ok();
    assert_eq!(
        vecar(&["export", s(&exported)]).ok().stdout,
        vecar(&["export", s(&car)]).ok().stdout
    );

    let from_gateway = dir.path().join("from-gateway.car");
    let pulled = vecar(&["pull", &root, "-o", s(&from_gateway), "--gateway", &daemon.gateway]).ok();
    assert_eq!(pulled.stdout.trim(), root);
    assert_same_archive(&from_gateway, &car);

    let from_api = dir.path().join("from-api.car");
    vecar(&[
        "pull",
        &format!("ipfs://{root}"),
        "-o",
        s(&from_api),
        "--api",
        &daemon.api,
    ])
    .ok();
    assert_same_archive(&from_api, &car);
    assert_eq!(std::fs::read(&from_api).unwrap(), std::fs::read(&from_gateway).unwrap());

    let to_stdout = std::process::Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(["pull", &root, "-o", "-", "--api", &daemon.api])
        .output()
        .unwrap();
    assert!(
        to_stdout.status.success(),
        "{}",
        String::from_utf8_lossy(&to_stdout.stderr)
    );
    assert_eq!(to_stdout.stdout, std::fs::read(&from_api).unwrap());

    // A CID the node does not hold: its gateway sends a CAR header, then an error in words.
    let missing = cid_of(0x71, b"\xa0").to_string();
    let out = dir.path().join("missing.car");
    let run = vecar(&["pull", &missing, "-o", s(&out), "--gateway", &daemon.gateway]);
    run.fails_with("the CAR breaks off with the text \"[Gateway Error: CAR stream truncated");
    let run = vecar(&["pull", &missing, "-o", s(&out), "--api", &daemon.api]);
    run.fails_with("HTTP 500 Internal Server Error: block was not found locally (offline)");
    assert!(!out.exists());

    // A dead gateway first: the next source is tried.
    let fallback = dir.path().join("fallback.car");
    vecar(&[
        "pull",
        &root,
        "-o",
        s(&fallback),
        "--gateway",
        &dead_url(),
        "--gateway",
        &daemon.gateway,
    ])
    .ok();
    assert_same_archive(&fallback, &car);
}

#[test]
#[ignore = "needs Kubo: tests/kubo/install.sh"]
fn push_finds_the_api_in_the_repo_and_can_leave_the_root_unpinned() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
    let root = root_of(&car);
    let kubo = Kubo::init();
    let _daemon = kubo.daemon();
    let env = [("IPFS_PATH", s(kubo.repo()))];
    let pushed = vecar_with_env(&["push", s(&car), "--no-pin"], b"", &env).ok();
    assert_eq!(pushed.stdout.trim(), root);
    let pins = kubo
        .command(&["pin", "ls", "--type=recursive", "--quiet"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&pins.stdout).contains(&root),
        "pinned with --no-pin"
    );
    let exported = dir.path().join("exported.car");
    std::fs::write(&exported, kubo.ipfs(&["dag", "export", &root])).unwrap();
    assert_eq!(
        vecar(&["export", s(&exported)]).ok().stdout,
        vecar(&["export", s(&car)]).ok().stdout
    );
}

#[test]
fn push_and_pull_fail_clearly_when_nothing_answers() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let dead = dead_url();
    let pushed = vecar(&["push", s(&car), "--api", &dead]);
    pushed.fails_with(&format!("{dead}: connection failed"));
    assert_eq!(pushed.stdout, "");

    let out = dir.path().join("out.car");
    let root = root_of(&car);
    vecar(&["pull", &root, "-o", s(&out), "--gateway", &dead])
        .fails_with(&format!("could not pull {root}: {dead}: connection failed"));
    assert!(!out.exists());
    let bad_cid = vecar(&["pull", "not-a-cid", "-o", s(&out)]);
    assert_eq!(bad_cid.code, 2, "a bad CID is a usage error: {}", bad_cid.stderr);
}

#[test]
fn pull_never_writes_a_block_that_fails_its_hash() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
    let root = root_of(&car);
    let honest = std::fs::read(&car).unwrap();
    // The last block's last byte flipped: the stream parses, but the block's hash fails.
    let mut lying = honest.clone();
    *lying.last_mut().unwrap() ^= 1;
    let liar = serve(move |_| Response::bytes(200, lying.clone()).header("Content-Type", "application/vnd.ipld.car"));
    let honest_server = serve(move |_| Response::bytes(200, honest.clone()));

    let out = dir.path().join("out.car");
    let run = vecar(&["pull", &root, "-o", s(&out), "--gateway", &liar.base()]);
    run.fails_with("is corrupt (its sha2-256 does not match its CID)");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a temporary file was left"
    );
    let request = &liar.requests()[0];
    assert_eq!(request.path, format!("/ipfs/{root}?format=car&dag-scope=all"));
    assert_eq!(request.header("accept"), Some("application/vnd.ipld.car"));

    vecar(&[
        "pull",
        &root,
        "-o",
        s(&out),
        "--gateway",
        &liar.base(),
        "--gateway",
        &honest_server.base(),
    ])
    .ok();
    assert_same_archive(&out, &car);
}

/// The blocks of the CARv1 `car` by CID, cut out of the file where `vecar ls --json` places them.
fn blocks_of(car: &Path) -> std::collections::HashMap<String, Vec<u8>> {
    let bytes = std::fs::read(car).unwrap();
    let mut sections = vecar(&["ls", "--json", s(car)]).ok().json_lines();
    sections.sort_by_key(|b| b["offset"].as_u64().unwrap());
    let ends = sections
        .iter()
        .skip(1)
        .map(|b| b["offset"].as_u64().unwrap())
        .chain([bytes.len() as u64]);
    sections
        .iter()
        .zip(ends)
        .map(|(b, end)| {
            let start = end - b["size"].as_u64().unwrap();
            (
                b["cid"].as_str().unwrap().to_string(),
                bytes[start as usize..end as usize].to_vec(),
            )
        })
        .collect()
}

#[test]
fn pull_falls_back_to_fetching_block_by_block_when_the_car_is_broken() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &["--car-v1"]);
    let root = root_of(&car);
    let bytes = std::fs::read(&car).unwrap();
    let blocks = blocks_of(&car);
    assert_eq!(
        blocks.len(),
        vecar(&["info", "--json", s(&car)]).ok().json_lines()[0]["blocks"]
    );
    let half = bytes[..bytes.len() / 2].to_vec();
    let node_blocks = blocks.clone();
    let node = serve(move |request| {
        let (path, query) = request.path.split_once('?').unwrap();
        match (path, query.strip_prefix("arg=").and_then(|cid| node_blocks.get(cid))) {
            ("/api/v0/block/get", Some(block)) => Response::bytes(200, block.clone()),
            _ => Response::json(
                500,
                &serde_json::json!({"Message": "not today", "Code": 0, "Type": "error"}),
            ),
        }
    });
    let gateway = serve(move |request| {
        let (path, format) = request.path.split_once('?').unwrap();
        let cid = path.strip_prefix("/ipfs/").unwrap();
        match (format, blocks.get(cid)) {
            ("format=car&dag-scope=all", _) => Response::bytes(200, half.clone()),
            ("format=raw", Some(block)) => Response::bytes(200, block.clone()),
            _ => Response::text(404, "no such block"),
        }
    });
    let out = dir.path().join("out.car");
    vecar(&["pull", &root, "-o", s(&out), "--gateway", &gateway.base()]).ok();
    assert_same_archive(&out, &car);
    let requests = gateway.requests();
    assert_eq!(
        requests.len(),
        1 + blocks_of(&car).len(),
        "one CAR, then each block once"
    );
    assert!(requests[1..]
        .iter()
        .all(|r| r.path.ends_with("?format=raw") && r.header("accept") == Some("application/vnd.ipld.raw")));

    let out = dir.path().join("from-node.car");
    vecar(&["pull", &root, "-o", s(&out), "--api", &node.base()]).ok();
    assert_same_archive(&out, &car);
    let requests = node.requests();
    assert_eq!(
        requests[0].path,
        format!("/api/v0/dag/export?arg={root}&progress=false")
    );
    assert_eq!(requests.len(), 1 + blocks_of(&car).len());
    assert!(requests.iter().all(|r| r.method == "POST"));
}

#[test]
fn push_streams_a_multipart_form_and_fails_on_any_report_but_the_root_pinned() {
    let dir = tempdir();
    let car = build_fixture(dir.path(), "docs.car", &[]);
    let root = root_of(&car);
    let blocks = vecar(&["info", "--json", s(&car)]).ok().json_lines()[0]["blocks"].clone();
    let report = move |root: &str, pin_error: &str, blocks: &serde_json::Value| {
        format!(
            "{}\n{}\n",
            serde_json::json!({"Root": {"Cid": {"/": root}, "PinErrorMsg": pin_error}}),
            serde_json::json!({"Stats": {"BlockCount": blocks, "BlockBytesCount": 1}})
        )
    };
    let push = |answer: Response| {
        let node = serve(move |_| answer.clone());
        let run = vecar(&["push", s(&car), "--api", &node.base()]);
        (run, node.requests())
    };

    let (run, requests) = push(Response::text(200, &report(&root, "", &blocks)));
    assert_eq!(run.ok().stdout.trim(), root);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/v0/dag/import?pin-roots=true&stats=true");
    let content_type = request.header("content-type").unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
    let mut expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"archive.car\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    expected.extend(std::fs::read(&car).unwrap());
    expected.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    assert!(
        request.body == expected,
        "the form is not the file between two boundaries"
    );

    let (run, _) = push(Response::text(200, &report(&root, "pin: disk full", &blocks)));
    run.fails_with(&format!("could not pin {root}: pin: disk full"));
    assert_eq!(run.stdout, "");
    let other = cid_of(0x71, b"\xa0").to_string();
    push(Response::text(200, &report(&other, "", &blocks)))
        .0
        .fails_with(&format!("the node reported the roots [{other:?}], not {root}"));
    push(Response::text(200, &report(&root, "", &serde_json::json!(3))))
        .0
        .fails_with("the node read 3 blocks of");
    // js-ipfs ignores `stats=true` and reports the pinned root alone: no count is no failure.
    let root_only = serde_json::json!({"Root": {"Cid": {"/": root}, "PinErrorMsg": ""}});
    let (run, _) = push(Response::text(200, &format!("{root_only}\n")));
    assert_eq!(run.ok().stdout.trim(), root);
    let refused = Response::json(
        500,
        &serde_json::json!({"Message": "import failed at block x: unexpected EOF", "Code": 0}),
    );
    push(refused)
        .0
        .fails_with("HTTP 500 Internal Server Error: import failed at block x: unexpected EOF");
}
