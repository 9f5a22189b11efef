"""The partitioned index against HNSW on the same rows: build time and peak RSS, the same root at
1 and 2 threads, recall@10 against exact search and speed along the nprobe curve, a batch of
10,000 queries, and one cold query locally and through a gateway with 20 ms added per request.

Sets: `dev50k` (the 10,000 dev vectors and four nudged copies of each, 384 dimensions; queries:
the dev set's 500) or, with --scale N, N synthetic clustered unit vectors (bench/perf.py's).

Usage: bench/partitioned.sh [--runs 3] [--scale 1000000] [--out bench/partitioned-results.md]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

from perf import dev50k_set, exact_top10, recall, synthetic_set
from remote import blocks_of, server
from run import VECAR, publish, run

NPROBES = (4, 8, 16, 32, 64, 128)
STATS = re.compile(r"fetched (\d+) bytes in (\d+) requests, (\d+) round trips")


def build(jsonl, car, flags, runs):
    """Median build seconds and the largest peak RSS (MiB) of `runs` builds."""
    results = [run([VECAR, "build", str(jsonl), "-o", str(car), "-q", *flags]) for _ in range(runs)]
    return median(r[0] for r in results), max(r[1] for r in results)


def root(car):
    return subprocess.run([VECAR, "root", str(car)], check=True, capture_output=True, text=True).stdout.strip()


def index_bytes(car):
    """Bytes of the index's blocks (the HNSW graph, or centroids and partitions)."""
    info = json.loads(subprocess.run([VECAR, "info", "--json", str(car)], check=True, capture_output=True).stdout)
    roles = info["by_role"]
    return sum(roles.get(r, {}).get("bytes", 0) for r in ("index", "index-links", "partitions", "partitions-links"))


def search(car, queries_file, flags, runs):
    """Median seconds of querying every line of `queries_file`, and the hits' row numbers."""
    results = [run([VECAR, "query", str(car), "-k", "10", *flags], stdin=queries_file.read_bytes(), stdout=subprocess.PIPE) for _ in range(runs)]
    hits = {}
    for line in results[-1][2].decode().splitlines():
        hit = json.loads(line)
        hits.setdefault(hit["query"], []).append(int(hit["id"]))
    return median(r[0] for r in results), [hits.get(i, []) for i in range(len(hits))]


def one_query(target, vector, flags):
    started = time.perf_counter()
    done = subprocess.run([VECAR, "query", target, "-k", "10", "--vector", json.dumps(vector), *flags], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"vecar query failed: {done.stderr}")
    found = STATS.search(done.stderr)
    stats = {"bytes": int(found[1]), "requests": int(found[2]), "rounds": int(found[3])} if found else {}
    return {"wall": wall, **stats}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--scale", type=int, help="N synthetic rows instead of dev50k")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="vecar-partitioned-"))
    jsonl, x, q = synthetic_set(work, args.scale) if args.scale else dev50k_set(work)
    name = f"{len(x):,} synthetic" if args.scale else "dev50k"
    # Row numbers as ids, so hits compare with numpy's row numbers.
    numbered = work / "numbered.jsonl"
    with open(jsonl) as src, open(numbered, "w") as dst:
        for i, line in enumerate(src):
            doc = json.loads(line)
            doc["id"] = i
            dst.write(json.dumps(doc) + "\n")
    jsonl.unlink()
    q = q[:500]
    queries = work / "q.jsonl"
    queries.write_text("".join(json.dumps({"id": i, "vector": v}) + "\n" for i, v in enumerate(q.tolist())))
    batch = work / "q10k.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "vector": q[i % len(q)].tolist()}) + "\n" for i in range(10_000)))
    truth = exact_top10(x, q)
    raw = x.nbytes / 2**20

    hnsw, part = work / "h.car", work / "p.car"
    build_runs = 1 if args.scale else args.runs
    h_build, h_rss = build(numbered, hnsw, [], build_runs)
    p_build, p_rss = build(numbered, part, ["--index", "partitioned"], build_runs)
    one = work / "p1.car"
    run([VECAR, "build", str(numbered), "-o", str(one), "-q", "--index", "partitioned", "--threads", "1"])
    same_root = root(one) == root(part)
    info = json.loads(subprocess.run([VECAR, "info", "--json", str(part)], check=True, capture_output=True).stdout)
    p = info["partitions"]
    lines = [
        f"### {name} x {x.shape[1]}: {p['count']:,} partitions of {p['rows_min']:,} / {p['rows_median']:,} / {p['rows_max']:,} rows (min / median / max)",
        "",
        f"Median of {args.runs} runs (builds: {build_runs}), load average {load:.1f} at the start; raw float32 vectors {raw:,.0f} MiB.",
        "",
        "| | hnsw | partitioned | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| build | {h_build:.1f} s | {p_build:.1f} s | {p_build / h_build:.2f}x |",
        f"| peak build RSS / raw | {h_rss / raw:.2f}x | {p_rss / raw:.2f}x | |",
        f"| index bytes | {index_bytes(hnsw) / 1e6:,.1f} MB | {index_bytes(part) / 1e6:,.1f} MB | |",
        f"| same root at 1 and 2 threads | no | {'yes' if same_root else 'NO'} | |",
    ]
    h_s, h_hits = search(hnsw, queries, [], args.runs)
    lines.append(f"| recall@10, {len(q)} queries (q/s) | {recall(h_hits, truth):.3f} ({len(q) / h_s:,.0f}) | | |")
    for nprobe in NPROBES:
        s, hits = search(part, queries, ["--nprobe", str(nprobe)], args.runs)
        lines.append(f"| nprobe {nprobe}: recall@10 (q/s) | | {recall(hits, truth):.3f} ({len(q) / s:,.0f}) | |")
    h_batch, _ = search(hnsw, batch, [], args.runs)
    p_batch, _ = search(part, batch, [], args.runs)
    lines.append(f"| 10,000 queries, whole process (default nprobe) | {10_000 / h_batch:,.0f} q/s | {10_000 / p_batch:,.0f} q/s | {h_batch / p_batch:.2f}x |")
    for label, car in (("hnsw", hnsw), ("partitioned", part)):
        subprocess.run(["sh", "-c", f"cat {car} > /dev/null"])
    local = {label: median(one_query(str(car), q[i].tolist(), [])["wall"] for i in range(args.runs)) for label, car in (("hnsw", hnsw), ("partitioned", part))}
    lines.append(f"| one query, local file (page cache warm) | {local['hnsw']:.3f} s | {local['partitioned']:.3f} s | |")
    remote = {}
    for label, car in (("hnsw", hnsw), ("partitioned", part)):
        httpd = server(car, blocks_of(car), 0.020)
        gateway = ["--gateway", f"http://127.0.0.1:{httpd.server_port}"]
        cold, warm = [], []
        for i in range(args.runs):
            cache = work / f"cache-{label}-{i}"
            cold.append(one_query(f"ipfs://{root(car)}", q[2 * i].tolist(), gateway + ["--cache", str(cache)]))
            warm.append(one_query(f"ipfs://{root(car)}", q[2 * i + 1].tolist(), gateway + ["--cache", str(cache)]))
        httpd.shutdown()
        remote[label] = [{key: median(r[key] for r in results) for key in results[0]} for results in (cold, warm)]
    for kind, at in (("cold", 0), ("warm", 1)):
        h, pp = remote["hnsw"][at], remote["partitioned"][at]
        describe = lambda r: f"{r['wall']:.3f} s, {r['bytes'] / 1e6:,.1f} MB, {r['requests']:.0f} req, {r['rounds']:.0f} RT"
        lines.append(f"| gateway +20 ms, {kind} query | {describe(h)} | {describe(pp)} | |")
    cold_share = remote["partitioned"][0]["bytes"] / index_bytes(part)
    lines.append(f"\nA cold partitioned query fetched {cold_share:.1%} of the index's bytes' worth of blocks (manifest, link nodes, centroids, probed partitions, vector and record chunks).")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
