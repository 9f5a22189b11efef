"""The partitioned index against HNSW on the same rows: build time and peak RSS, the same root at
1 and 2 threads, recall@10 against exact search and speed along the nprobe curve, a batch of
10,000 queries, one cold query locally and through a gateway with 20 ms added per request, and
warm ones: a new vector once a query filled the cache, a query whose blocks are all cached (a new
process), and the next query to a running `vecar query` whose blocks are cached (through the
gateway's cache, and on the local file).

Sets: `dev50k` (the 10,000 dev vectors and four nudged copies of each, 384 dimensions; queries:
the dev set's 500) or, with --scale N, N synthetic clustered unit vectors (bench/perf.py's).

Usage: bench/partitioned.sh [--runs 3] [--scale 1000000] [--keep DIR] [--out bench/partitioned-results.md]

With --keep DIR the set, its queries and both archives stay in DIR, and a later run with the same
DIR reuses them (the 1M set takes about 25 minutes to write and its HNSW build half an hour): a
reused archive's build row says so instead of a time.
"""

import argparse
import json
import os
import re
import shutil
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
    """Median build seconds and the largest peak RSS (MiB) of `runs` builds; None for both when
    `car` is kept from an earlier run (--keep)."""
    if car.exists():
        return None, None
    results = [run([VECAR, "build", str(jsonl), "-o", str(car), "-q", *flags]) for _ in range(runs)]
    return median(r[0] for r in results), max(r[1] for r in results)


def root(car):
    return subprocess.run([VECAR, "root", str(car)], check=True, capture_output=True, text=True).stdout.strip()


def index_bytes(car):
    """Bytes of the index's blocks (the HNSW graph, or centroids and partitions)."""
    info = json.loads(subprocess.run([VECAR, "info", "--json", str(car)], check=True, capture_output=True).stdout)
    roles = info["by_role"]
    return sum(roles.get(r, {}).get("bytes", 0) for r in ("index", "index-links", "partitions", "partitions-links", "row-lists", "row-lists-links"))


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


def streamed(target, vectors, flags):
    """Seconds from sending each of `vectors` to one running `vecar query` (standard input a
    pipe; it answers each line as it arrives) to reading its 10 hits."""
    proc = subprocess.Popen([VECAR, "query", target, "-k", "10", *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seconds = []
    for i, vector in enumerate(vectors):
        started = time.perf_counter()
        proc.stdin.write(json.dumps({"id": i, "vector": vector}) + "\n")
        proc.stdin.flush()
        for _ in range(10):
            proc.stdout.readline()
        seconds.append(time.perf_counter() - started)
    proc.stdin.close()
    proc.wait()
    return seconds


def build_rows(h_build, h_rss, p_build, p_rss, raw):
    """The build rows of the table, or one saying the archives were kept from an earlier run."""
    if h_build is None or p_build is None:
        return ["| build | (archives kept from an earlier run) | | |"]
    return [
        f"| build | {h_build:.1f} s | {p_build:.1f} s | {p_build / h_build:.2f}x |",
        f"| peak build RSS / raw | {h_rss / raw:.2f}x | {p_rss / raw:.2f}x | |",
    ]


def the_set(work, scale):
    """The set's JSONL with row numbers as ids (so hits compare with numpy's row numbers), its
    vectors and its queries: made in `work`, or read back from an earlier run's."""
    numbered, saved = work / "numbered.jsonl", work / "set.npz"
    if numbered.exists() and saved.exists():
        with np.load(saved) as kept:
            return numbered, kept["x"], kept["q"]
    jsonl, x, q = synthetic_set(work, scale) if scale else dev50k_set(work)
    # Each line starts {"id": "...", and no id holds '", ': swapping the text, not parsing
    # 400 numbers a line, takes minutes off the 1M set.
    with open(jsonl) as src, open(numbered, "w") as dst:
        for i, line in enumerate(src):
            dst.write(f'{{"id": {i}, ' + line[line.index('", ') + 3 :])
    jsonl.unlink()
    np.savez(saved, x=x, q=q)
    return numbered, x, q


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--scale", type=int, help="N synthetic rows instead of dev50k")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--keep", type=Path, help="keep the set and archives here, and reuse them")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    work = args.keep or Path(tempfile.mkdtemp(prefix="vecar-partitioned-"))
    work.mkdir(parents=True, exist_ok=True)
    numbered, x, q = the_set(work, args.scale)
    name = f"{len(x):,} synthetic" if args.scale else "dev50k"
    q = q[:500]
    queries = work / "q.jsonl"
    queries.write_text("".join(json.dumps({"id": i, "vector": v}) + "\n" for i, v in enumerate(q.tolist())))
    batch = work / "q10k.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "vector": q[i % len(q)].tolist()}) + "\n" for i in range(10_000)))
    truth = exact_top10(x, q)
    raw = x.nbytes / 2**20

    hnsw, part = work / "h.car", work / "p.car"
    build_runs = 1 if args.scale else args.runs
    h_build, h_rss = build(numbered, hnsw, ["--index", "hnsw"], build_runs)
    p_build, p_rss = build(numbered, part, ["--index", "partitioned"], build_runs)
    one = work / "p1.car"
    one.unlink(missing_ok=True)
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
        *build_rows(h_build, h_rss, p_build, p_rss, raw),
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
    # A running `vecar query` on the file: each of 10 new vectors sent alone, after a first.
    running = {label: median(streamed(str(car), [v.tolist() for v in q[300:311]], [])[1:]) for label, car in (("hnsw", hnsw), ("partitioned", part))}
    lines.append(f"| a running `vecar query` on the local file, next new query (median of 10) | {running['hnsw']:.3f} s | {running['partitioned']:.3f} s | |")
    remote = {}
    for label, car in (("hnsw", hnsw), ("partitioned", part)):
        httpd = server(car, blocks_of(car), 0.020)
        gateway = ["--gateway", f"http://127.0.0.1:{httpd.server_port}"]
        cold, warm, cached, running = [], [], [], []
        for i in range(args.runs):
            cache = work / f"cache-{label}-{i}"
            shutil.rmtree(cache, ignore_errors=True)
            flags, (a, b) = gateway + ["--cache", str(cache)], (q[2 * i].tolist(), q[2 * i + 1].tolist())
            cold.append(one_query(f"ipfs://{root(car)}", a, flags))
            warm.append(one_query(f"ipfs://{root(car)}", b, flags))
            cached.append(one_query(f"ipfs://{root(car)}", a, flags))
            # b's blocks are in the cache, but not in the process, which opened for a.
            running.append(streamed(f"ipfs://{root(car)}", [a, b], flags)[1])
        httpd.shutdown()
        remote[label] = [{key: median(r[key] for r in results) for key in results[0]} for results in (cold, warm, cached)]
        remote[label].append(median(running))
    describe = lambda r: f"{r['wall']:.3f} s, {r['bytes'] / 1e6:,.1f} MB, {r['requests']:.0f} req, {r['rounds']:.0f} RT"
    for kind, at in (("cold", 0), ("warm cache, new vector", 1), ("every block cached, new process", 2)):
        h, pp = remote["hnsw"][at], remote["partitioned"][at]
        lines.append(f"| gateway +20 ms, {kind} | {describe(h)} | {describe(pp)} | |")
    h, pp = remote["hnsw"][3], remote["partitioned"][3]
    lines.append(f"| gateway +20 ms, a running `vecar query`, next query's blocks cached | {h:.3f} s | {pp:.3f} s | |")
    cold_share = remote["partitioned"][0]["bytes"] / index_bytes(part)
    lines.append(f"\nA cold partitioned query fetched {cold_share:.1%} of the index's bytes' worth of blocks (manifest, link nodes, centroids, probed partitions, vector and record chunks).")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
