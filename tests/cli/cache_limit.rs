//! The block cache's limit (`--cache-max`, `VECAR_CACHE_MAX`): after a command that kept blocks,
//! the least recently used go until the cache fits; answers never change, and processes that
//! share a cache while it is trimmed still answer right.

use crate::common::*;
use crate::remote::{block_requests, served, Served};

/// The bytes `vecar cache info` says the cache at `cache` holds, and its whole line.
fn cached_bytes(cache: &str, env: &[(&str, &str)]) -> (u64, String) {
    let info = vecar_with_env(&["cache", "info", "--cache", cache], b"", env)
        .ok()
        .stdout;
    let bytes = info
        .split(", ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {info:?}"));
    (bytes, info)
}

/// `vecar export` of the served archive through its gateway and cache, keeping at most `max`.
fn export(served: &Served, max: &str) -> Run {
    let gateway = served.gateway.base();
    let cache = s(&served.cache);
    vecar(&[
        "export",
        &served.remote,
        "--gateway",
        &gateway,
        "--cache",
        cache,
        "--cache-max",
        max,
    ])
}

#[test]
fn a_small_limit_evicts_the_least_recently_used_blocks_and_changes_no_answer() {
    let served = served(600);
    let (car, remote, honest, cache) = (&served.car, &served.remote, &served.gateway, &served.cache);
    let local = vecar(&["export", s(car)]).ok().stdout;
    let export = |max: &str| export(&served, max).ok().stdout;

    // Without a limit to speak of, a second export fetches nothing.
    assert_eq!(export("1G"), local);
    let (whole, info) = cached_bytes(s(cache), &[]);
    assert!(
        info.contains("keeps at most 2147483648 bytes"),
        "the default is 2G: {info}"
    );
    let fetched = block_requests(honest);
    assert_eq!(export("1G"), local);
    assert_eq!(block_requests(honest), fetched, "a warm export fetched blocks");

    // A lower limit applies from the next command, even one that fetches nothing: 20K keeps
    // the blocks used last that fit in 90% of it; what was evicted is fetched again.
    let limit = 20 * 1024;
    assert!(whole > 2 * limit, "the archive is larger than the limit: {whole}");
    assert_eq!(export("20K"), local);
    assert_eq!(
        block_requests(honest),
        fetched,
        "the export before the trim fetched nothing"
    );
    let (after, info) = cached_bytes(s(cache), &[("VECAR_CACHE_MAX", "20K")]);
    assert!(after <= limit - limit / 10, "trimmed to 90% of the limit: {info}");
    assert!(info.contains(&format!("keeps at most {limit} bytes")), "{info}");
    let before = block_requests(honest);
    assert_eq!(export("20K"), local);
    assert!(block_requests(honest) > before, "evicted blocks are fetched again");

    // VECAR_CACHE_MAX does what --cache-max does.
    let args = ["export", remote, "--gateway", &honest.base(), "--cache", s(cache)];
    let run = vecar_with_env(&args, b"", &[("VECAR_CACHE_MAX", "0")]);
    assert_eq!(run.ok().stdout, local);
    assert_eq!(cached_bytes(s(cache), &[]).0, 0, "a limit of 0 keeps nothing");
    for (size, bytes) in [
        ("1.5G", 1610612736u64),
        ("20KiB", 20480),
        ("500mb", 524288000),
        ("77", 77),
    ] {
        let info = vecar(&["cache", "info", "--cache", s(cache), "--cache-max", size])
            .ok()
            .stdout;
        assert!(
            info.ends_with(&format!("keeps at most {bytes} bytes\n")),
            "{size}: {info}"
        );
    }
    for wrong in ["lots", "-1G", "2X", "inf"] {
        assert_eq!(vecar(&["cache", "info", "--cache-max", wrong]).code, 2, "{wrong}");
    }
}

#[test]
fn processes_sharing_a_cache_that_is_trimmed_under_them_still_answer_right() {
    let served = served(600);
    let local = vecar(&["export", s(&served.car)]).ok().stdout;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4).map(|_| scope.spawn(|| export(&served, "30K"))).collect();
        for run in runs {
            assert_eq!(run.join().unwrap().ok().stdout, local);
        }
    });
    assert!(cached_bytes(s(&served.cache), &[]).0 <= 30 * 1024);
}
