"""Leaves read lazily: what a cold query on a big archive fetches through a gateway that adds
20 ms to every request, and how long it takes, by the size of the records and vectors trees'
leaves (the link nodes that link chunks) and by when they are read: all at open (as every vecar
did before) or only those the query's rows are under (`VECAR_EAGER_LEAVES=0` forces it).

The archives hold the same rows (partitioned.py's synthetic set, 384 dimensions): one built by
the binary given with --before (leaves of 16,384 links), one by this tree's vecar (its leaves),
and one for each --links N built by the --before binary with `--max-links N` (every node N links:
the same height at 1M rows, so its leaves are N links). Their chunks are the same blocks, so one
gateway serves them all, and each round queries every archive and way in turn (alternated), a
new query vector each round, no cache: bytes, requests and round trips as vecar reports them,
wall time and the CPU time (user + sys) of the vecar process; medians, and the range of wall.

Usage: bench/.venv/bin/python bench/leaves.py --before OLD_VECAR --keep DIR [--scale 1000000]
       [--links 1024 2048] [--runs 5] [--out FILE]
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from partitioned import root, the_set
from remote import blocks_of, server
from run import VECAR, publish

STATS = re.compile(r"fetched (\d+) bytes in (\d+) requests, (\d+) round trips")


def build(binary, jsonl, car, flags):
    """Builds `car` from `jsonl` with `binary`, unless it is there from an earlier run."""
    if not car.exists():
        subprocess.run([binary, "build", str(jsonl), "-o", str(car), "-q", *flags], check=True)


def leaves(car):
    """The records and vectors leaves of `car`: how many, and their bytes."""
    listed = subprocess.run([VECAR, "ls", "--json", str(car)], check=True, capture_output=True, text=True)
    nodes = [json.loads(line) for line in listed.stdout.splitlines()]
    found = []
    for role in ("records-links", "vectors-links"):
        found += [n["size"] for n in nodes if n["role"] == role][1:]
    return len(found), sum(found)


def cold_query(binary, target, vector, base, env):
    """One query through the gateway at `base`, no cache: its statistics, wall and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [binary, "query", target, "-k", "10", "--vector", json.dumps(vector), "--gateway", base, "--no-cache"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"vecar query failed: {done.stderr}")
    found = STATS.search(done.stderr)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"bytes": int(found[1]), "requests": int(found[2]), "rounds": int(found[3]), "wall": wall, "cpu": cpu, "hits": done.stdout}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="a vecar binary that writes leaves of 16,384 links")
    parser.add_argument("--keep", type=Path, required=True, help="the set and archives: made here, or reused")
    parser.add_argument("--scale", type=int, default=1_000_000, help="rows in the synthetic set")
    parser.add_argument("--links", type=int, nargs="*", default=[1024, 2048], help="leaf sizes built with --max-links")
    parser.add_argument("--runs", type=int, default=5, help="rounds (median)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    args.keep.mkdir(parents=True, exist_ok=True)
    jsonl, _, q = the_set(args.keep, args.scale)
    cars = {"before": args.keep / "before.car", "this tree": args.keep / "after.car"}
    build(args.before, jsonl, cars["before"], [])
    build(VECAR, jsonl, cars["this tree"], [])
    for n in args.links:
        cars[f"--max-links {n}"] = args.keep / f"l{n}.car"
        build(args.before, jsonl, cars[f"--max-links {n}"], ["--max-links", str(n)])
    blocks = {}
    for car in cars.values():
        blocks.update(blocks_of(car))
    httpd = server(cars["before"], blocks, 0.020)
    base = f"http://127.0.0.1:{httpd.server_port}"
    # (label, binary, archive, environment): the old binary reads every leaf at open.
    ways = [("before", args.before, "before", {})]
    for name in cars:
        if name != "before":
            ways += [(f"{name}, at open", VECAR, name, {}), (f"{name}, lazily", VECAR, name, {"VECAR_EAGER_LEAVES": "0"})]
    results = {label: [] for label, *_ in ways}
    for i in range(args.runs):
        for label, binary, name, env in ways:
            results[label].append(cold_query(binary, f"ipfs://{root(cars[name])}", q[i].tolist(), base, env))
    httpd.shutdown()
    lines = [
        f"Cold query (`-k 10`, `--no-cache`) on {args.scale:,} rows x 384 through a gateway adding 20 ms a request; "
        f"{args.runs} rounds, every way once a round, a new vector each round; load average {load:.1f} at the start.",
        "",
        "| archive, leaves read | leaves (records + vectors) | bytes | requests | round trips | wall, median (range) | CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, _, name, _ in ways:
        rs = results[label]
        hits = {r["hits"] for r in rs[:1]} | {results["before"][0]["hits"]}
        same = "" if len(hits) == 1 else " (other hits!)"
        count, size = leaves(cars[name])
        walls = [r["wall"] for r in rs]
        lines.append(
            f"| {label}{same} | {count:,} of {size / count / 1e3:,.1f} KB | {median(r['bytes'] for r in rs) / 1e6:,.2f} MB | "
            f"{median(r['requests'] for r in rs):.0f} | {median(r['rounds'] for r in rs):.0f} | "
            f"{median(walls):.3f} s ({min(walls):.3f}-{max(walls):.3f}) | {median(r['cpu'] for r in rs):.3f} s |"
        )
    publish(lines, args.out)


if __name__ == "__main__":
    main()
