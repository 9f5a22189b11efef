"""Benchmarks vecar on the dev set: build, batch and cold queries, recall, sizes, peak memory.

Every timing is the median of several runs. The machines are shared and noisy, so each figure is
also given as a ratio to a baseline measured in the same run: a Python process that just parses
the same JSONL (json.loads per line), the least a Python build script would do.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECAR = ROOT / "target" / "release" / "vecar"
DATA = ROOT.parent / "shared" / "data"


def run(cmd, stdin=None, stdout=subprocess.DEVNULL):
    """Runs cmd once under /usr/bin/time; returns (seconds, peak RSS in MiB, stdout bytes).

    Standard input and output are files, as in `vecar query a.car < q.jsonl > hits.jsonl`, so
    this Python process does not pump bytes through pipes (taking a core) while cmd runs."""
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as taken:
        given.write(stdin or b"")
        given.seek(0)
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdin=given,
                              stdout=taken if stdout == subprocess.PIPE else stdout, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - start
        taken.seek(0)
        output = taken.read()
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {proc.stderr.decode()}")
    rss = int(proc.stderr.decode().split()[-1]) / 1024
    return seconds, rss, output


def median_of(runs, cmd, stdin=None):
    results = [run(cmd, stdin) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def top_ids(jsonl):
    hits = {}
    for line in jsonl.decode().splitlines():
        h = json.loads(line)
        hits.setdefault(h["query"], set()).add(h["id"])
    return hits


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    if not shutil.which("/usr/bin/time"):
        sys.exit("bench needs /usr/bin/time (Debian package 'time') to measure peak memory")

    work = Path(tempfile.mkdtemp(prefix="vecar-bench-"))
    docs = work / "docs.jsonl"
    docs.write_bytes(gzip.decompress((DATA / "docs.jsonl.gz").read_bytes()))
    queries = gzip.decompress((DATA / "queries.jsonl.gz").read_bytes())
    first_query = json.dumps(json.loads(queries.splitlines()[0])["vector"])
    car = work / "docs.car"
    n_docs = sum(1 for _ in docs.open())
    n_queries = len(queries.splitlines())

    baseline, _ = median_of(args.runs, [sys.executable, "-c",
        "import json,sys\nfor l in open(sys.argv[1]): json.loads(l)", str(docs)])
    rows = [("baseline: Python json.loads of every line", baseline, None, "")]

    def timed(label, cmd, stdin=None, note=""):
        seconds, rss = median_of(args.runs, cmd, stdin)
        rows.append((label, seconds, rss, note))
        return seconds

    build = [str(VECAR), "build", str(docs), "-o", str(car), "-q"]
    timed(f"build {n_docs} docs, --threads 1", build + ["--threads", "1"])
    t = timed(f"build {n_docs} docs, 2 threads (default)", build)
    rows[-1] = rows[-1][:3] + (f"{n_docs / t:,.0f} docs/s",)
    t = timed(f"query {n_queries} queries from stdin, k=10", [str(VECAR), "query", str(car)], queries)
    rows[-1] = rows[-1][:3] + (f"{n_queries / t:,.0f} queries/s incl. process start + load",)
    t = timed(f"query {n_queries} queries --exact", [str(VECAR), "query", str(car), "--exact"], queries)
    rows[-1] = rows[-1][:3] + (f"{n_queries / t:,.0f} queries/s",)
    for flt, share in [("source = fortune", "8.4%"), ("source = debian-description", "52.8%")]:
        t = timed(f"query {n_queries} queries --filter '{flt}'", [str(VECAR), "query", str(car), "--filter", flt], queries)
        rows[-1] = rows[-1][:3] + (f"{n_queries / t:,.0f} queries/s, {share} of records pass",)
    timed("cold single query (fresh process, --vector)", [str(VECAR), "query", str(car), "--vector", first_query])
    timed("verify", [str(VECAR), "verify", str(car)])

    approx = top_ids(run([str(VECAR), "query", str(car)], queries, subprocess.PIPE)[2])
    exact = top_ids(run([str(VECAR), "query", str(car), "--exact"], queries, subprocess.PIPE)[2])
    recall = sum(len(exact[q] & approx[q]) for q in exact) / (10 * len(exact))
    info = json.loads(subprocess.check_output([str(VECAR), "info", "--json", str(car)]))

    lines = [f"vecar bench: {n_docs} x {info['dimensions']} docs, {n_queries} queries, "
             f"median of {args.runs} runs, {os.cpu_count()} cores", "",
             "| what | median s | x baseline | peak RSS MiB | note |", "| --- | ---: | ---: | ---: | --- |"]
    for label, seconds, rss, note in rows:
        rss_text = f"{rss:.0f}" if rss else ""
        lines.append(f"| {label} | {seconds:.3f} | {seconds / baseline:.2f} | {rss_text} | {note} |")
    lines += ["", f"recall@10 (default settings vs --exact): {recall:.4f}", "",
              f"archive: {info['file_bytes']:,} bytes, {info['blocks']} blocks "
              f"(dtype {info['dtype']}, metric {info['metric']}, M={info['connectivity']}, "
              f"ef_add={info['expansion_add']}, ef={info['expansion_search']})", "",
              "| part | blocks | bytes |", "| --- | ---: | ---: |"]
    for role, part in info["by_role"].items():
        lines.append(f"| {role} | {part['blocks']} | {part['bytes']:,} |")
    publish(lines, args.out)


def publish(lines, out):
    """Prints the result lines, and writes them to the file `out` too if given."""
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
