"""Which index `vecar build` should make by default, measured on real vectors at several sizes:
an HNSW index built on one thread, one built on every core (the --threads default), and the
partitioned index (built on every core; it is the same at any thread count).

For each size and each: build time (wall and CPU, user+sys), how many distinct roots the builds
gave, recall@10 against exact search at the default query settings (--ef of the archive,
--nprobe 32), one cold query in a new process (`vecar query X.car --vector ...`, page cache
warm), and the dev set's 500 queries answered in one process. Every timing is the median of
--runs runs with the variants alternated (the machine is shared: CPU time is the steadier
figure); the cold query is timed 3 x --runs times, each time with another query vector.

Sets (real all-MiniLM-L6-v2 vectors, 384 dimensions; queries: the dev set's 500):
  2000   fixtures/dev/docs.jsonl.gz (every 5th document of the dev set)
  10000  the dev set, ../shared/data/docs.jsonl.gz
  N0000  N copies of the dev set, each vector nudged (bench/perf.py's dev50k_set: 50000 is dev50k)

Usage: bench/auto.sh [--runs 3] [--sizes 2000,10000,50000] [--out bench/auto-results.md]
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

from perf import dev50k_set, exact_top10, recall
from run import DATA, ROOT, VECAR, publish

VARIANTS = (
    ("hnsw, 1 thread", ["--index", "hnsw", "--threads", "1"]),
    (f"hnsw, {os.cpu_count()} threads", ["--index", "hnsw"]),
    ("partitioned", ["--index", "partitioned"]),
)


def timed(cmd, stdin=b""):
    """Runs cmd once; returns (wall s, CPU s (user+sys, from wait4), stdout bytes). Standard
    input and output are files, so this process pumps no pipes while cmd runs."""
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as taken:
        given.write(stdin)
        given.seek(0)
        started = time.perf_counter()
        child = subprocess.Popen([str(c) for c in cmd], stdin=given, stdout=taken, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed with status {child.returncode}")
        taken.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, taken.read()


def numbered(docs, path):
    """Writes `docs` (dicts) to `path` as JSONL with their row numbers as ids, so hits compare
    with numpy's row numbers."""
    with open(path, "w") as f:
        for i, doc in enumerate(docs):
            f.write(json.dumps({**doc, "id": i}) + "\n")


def real_set(n, work):
    """The JSONL of n real rows (see the module's doc) and their vectors as a numpy array."""
    path = work / f"set-{n}.jsonl"
    if n == 2000:
        docs = [json.loads(line) for line in gzip.open(ROOT / "fixtures" / "dev" / "docs.jsonl.gz", "rt")]
    elif n == 10000:
        docs = [json.loads(line) for line in gzip.open(DATA / "docs.jsonl.gz", "rt")]
    elif n % 10000 == 0:
        nudged, _, _ = dev50k_set(work, copies=n // 10000)
        docs = [json.loads(line) for line in open(nudged)]
        nudged.unlink()
    else:
        sys.exit(f"no set of {n} rows: give 2000, 10000 or a multiple of 10000")
    numbered(docs, path)
    return path, np.array([d["vector"] for d in docs], dtype=np.float32)


def info(car):
    return json.loads(subprocess.run([VECAR, "info", "--json", str(car)], check=True, capture_output=True).stdout)


def hits_of(output):
    """The hits' row numbers of each query, in query order."""
    hits = {}
    for line in output.decode().splitlines():
        hit = json.loads(line)
        hits.setdefault(hit["query"], []).append(int(hit["id"]))
    return [hits.get(i, []) for i in range(len(hits))]


def alternated(runs):
    """The variants of each run, each run starting one further along, so none always goes first."""
    for r in range(runs):
        for v in range(len(VARIANTS)):
            yield r, VARIANTS[(r + v) % len(VARIANTS)]


def measure(n, work, queries, q, runs):
    """The table rows of one size."""
    jsonl, x = real_set(n, work)
    truth = exact_top10(x, q)
    build, roots, car = {}, {}, {}
    for r, (label, flags) in alternated(runs):
        car[label] = work / f"{n}-{[v[0] for v in VARIANTS].index(label)}.car"
        wall, cpu, root = timed([VECAR, "build", str(jsonl), "-o", str(car[label]), *flags])
        build.setdefault(label, []).append((wall, cpu))
        roots.setdefault(label, set()).add(root.strip())
    batch, cold, found = {}, {}, {}
    for r, (label, _) in alternated(runs):
        wall, cpu, out = timed([VECAR, "query", str(car[label]), "-k", "10"], queries)
        batch.setdefault(label, []).append((wall, cpu))
        found[label] = hits_of(out)
    for r, (label, _) in alternated(3 * runs):
        vector = json.dumps(q[r % len(q)].tolist())
        wall, cpu, _ = timed([VECAR, "query", str(car[label]), "-k", "10", "--vector", vector])
        cold.setdefault(label, []).append((wall, cpu))
    rows = []
    for label, _ in VARIANTS:
        m = info(car[label])
        roles = m["by_role"]
        index = sum(roles.get(role, {}).get("bytes", 0) for role in ("index", "index-links", "partitions", "partitions-links"))
        parts = f" ({m['partitions']['count']} partitions)" if m.get("partitions") else ""
        b, c, s = (tuple(median(t[i] for t in times[label]) for i in (0, 1)) for times in (build, cold, batch))
        rows.append(
            f"| {n:,} | {label}{parts} | {b[0]:.2f} ({b[1]:.2f}) | {len(roots[label])} of {runs} "
            f"| {recall(found[label], truth):.3f} | {1000 * c[0]:.0f} ({1000 * c[1]:.0f}) "
            f"| {len(q) / s[0]:,.0f} ({s[1]:.2f}) | {index / 1e6:.1f} |"
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--sizes", default="2000,10000,50000", help="comma-separated row counts")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecar-auto-"))
    q_docs = [json.loads(line) for line in gzip.open(DATA / "queries.jsonl.gz", "rt")]
    q = np.array([d["vector"] for d in q_docs], dtype=np.float32)
    queries = "".join(json.dumps({"id": i, "vector": v}) + "\n" for i, v in enumerate(q.tolist())).encode()
    load = os.getloadavg()[0]
    lines = [
        "| rows | index | build s (CPU s) | distinct roots | recall@10 | cold query ms (CPU ms) | 500 queries: q/s (CPU s) | index MB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in (int(s) for s in args.sizes.split(",")):
        lines += measure(n, work, queries, q, args.runs)
        print(f"{n:,} rows measured", file=sys.stderr)
    lines[:0] = [
        f"Median of {args.runs} runs, variants alternated; cold query: median of {3 * args.runs}. "
        f"{os.cpu_count()} cores, load average {load:.1f} at the start and {os.getloadavg()[0]:.1f} at the end.",
        "",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
