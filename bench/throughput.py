"""Batch throughput where fixed costs do not dominate: 10,000 real-vector queries answered by one
`vecar query` process against FAISS searching the same queries in memory.

vecar: `vecar query ARCHIVE -k 10 < queries.jsonl > hits.jsonl`, one process, the whole process
timed (start, opening and verifying the index, parsing 10,000 JSON queries, searching, re-scoring
from the stored float32 vectors, reading the records, printing 100,000 JSON hits). FAISS:
IndexHNSWFlat (M 16, efConstruction 128, efSearch 64, bench/perf.py's settings), inner product on
unit vectors, `index.search` of the same 10,000 queries as one numpy array on 2 threads; its build
and its process start are not counted. The queries are the dev set's 500 real queries, 20 times.

Sets (bench/perf.py's): `dev` (10,000 x 384 real MiniLM vectors: a default build gives an HNSW
index) and `dev50k` (50,000 nudged copies: a default build gives a partitioned index; the same
rows built with `--index hnsw` are measured too).

For each archive: wall and CPU (user + sys of the vecar process, from wait4; FAISS: the search
call's wall and this process's CPU over it), medians of --runs rounds, vecar and FAISS alternated
within each round (the machine is shared: CPU times and alternation are what to trust);
recall@10 of each against exact search (numpy); the fixed cost (the same process with 1 query);
a sweep of vecar's own speed/recall knobs (--ef or --nprobe for each --rescore, one run each),
whose cheapest settings reaching recall 0.97 are then timed in the rounds too, the fastest by
median CPU marked (and FAISS at the smallest efSearch reaching 0.97 when 64 does not, so that the
two are also compared at equal recall); and, where `perf` works, a
profile of one default run (`perf record --call-graph dwarf`): the share of vecar's CPU samples
in each part of the work, SHA-256 (block verification) split by what it verified.

Usage: bench/throughput.sh [--runs 3] [--sets dev,dev50k] [--out bench/throughput-results.md]
"""

import argparse
from functools import cache
import hashlib
from importlib import metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import faiss
import numpy as np

from perf import EF, EF_ADD, M, dev50k_set, dev_set, exact_top10, recall, vecar_ids
from run import VECAR, publish

QUERIES = 10_000
FAISS = f"FAISS HNSWFlat efSearch {EF}, 2 threads"
TARGET_RECALL = 0.97
# vecar's knobs: for each --rescore, a series from cheap to dear, swept until recall reaches the
# target; the default is --ef 64 (the archive's expansion_search) or --nprobe 32, --rescore 2.
KNOBS = {
    "hnsw": [[["--ef", str(ef), "--rescore", str(r)] for ef in (16, 24, 32, 40, 48, 64, 96)] for r in (1, 2, 3)],
    "partitioned": [[["--nprobe", str(p), "--rescore", str(r)] for p in (4, 8, 12, 16, 24, 32, 48)] for r in (1, 2, 3)],
}


def vecar_query(car, queries, flags, out):
    """Runs `vecar query car -k 10 flags < queries > out` once: (wall s, CPU s of the process)."""
    return vecar_run(["query", str(car), "-k", "10", *flags], queries, out)


def vecar_run(args, stdin, out):
    """Runs `vecar args < stdin > out` once: (wall s, CPU s: user + sys of the process)."""
    with open(stdin, "rb") as given, open(out, "wb") as taken, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(VECAR), *args], stdin=given, stdout=taken, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"vecar {args[0]} failed: {err.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def faiss_search(index, queries, ef=EF):
    """One search of every query at efSearch `ef`: (wall s, CPU s of this process over it, row
    numbers found)."""
    index.hnsw.efSearch = ef
    cpu, start = time.process_time(), time.perf_counter()
    _, found = index.search(queries, 10)
    return time.perf_counter() - start, time.process_time() - cpu, found


def row_numbers(jsonl):
    """Row number of each record id, reading only each line's head (`{"id": "...", `)."""
    with open(jsonl) as f:
        return {json.loads(line[: line.index('", ') + 1] + "}")["id"]: i for i, line in enumerate(f)}


def hits_recall(out, ids, truth):
    return recall(vecar_ids(out.read_text(), ids), truth)


# Where a profile sample's CPU went, from its stack (leaf first, inlined frames included): SHA-256
# when the leaf is sha2's, else the first part whose names appear in the stack.
PARTS = [
    ("parsing the JSON queries", ("vecar::input::",)),
    ("reading vector chunks for re-scoring (pread, copy; hashing apart)", ("vector_bytes",)),
    ("re-scoring candidates with the float32 vectors", ("rescore", "Metric>::score", "vectors::decode")),
    ("index search (HNSW walk or partition scan, top-k selection)",
     ("unum::", "nk_", "search_<", "Hnsw::search", "index::partitioned", "scan_partitions", "dot_i8", "top_k", "index::multi")),
    ("reading records, writing JSON hits", ("records_of", "records::", "cmd::printer", "serde_json::ser", "cbor4ii", "cid::", "zmij", "Answers::record", "indexmap")),
]
# What SHA-256 was verifying.
VERIFIED = [
    ("vector chunks, for re-scoring", ("vector_bytes", "with_vectors")),
    ("record chunks, for output", ("records_of",)),
    ("partitions", ("partition",)),
    ("the index", ("index_bytes",)),
]


def samples(data):
    """The stacks of `perf script`'s samples, leaf first, inlined frames included (addr2line: some
    seconds), as lists of symbol names."""
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True, text=True).stdout
    stacks = [[line.strip().split(None, 1)[-1] for line in sample.strip().splitlines()] for sample in script.split("\n\n")]
    return [s for s in stacks if s]


def first(frames, parts, default):
    return next((name for name, keys in parts if any(k in f for f in frames for k in keys)), default)


def profile(car, queries, work):
    """The share of vecar's CPU samples in each part of the work, over one default run, and the
    number of samples; None without a working `perf`."""
    data = work / "perf.data"
    try:
        with open(queries, "rb") as given:
            subprocess.run(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384", "-o", str(data), "--",
                            str(VECAR), "query", str(car), "-k", "10"], stdin=given, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no profile: perf record failed ({e})", file=sys.stderr)
        return None
    counts = {}
    for frames in samples(data):
        if "sha2::" in frames[0]:
            part = "SHA-256 verification: " + first(frames, VERIFIED, "other blocks")
        else:
            part = first(frames, PARTS, "other (start, reading input, allocation, kernel)")
        counts[part] = counts.get(part, 0) + 1
    data.unlink()
    total = sum(counts.values())
    return {part: n / total for part, n in sorted(counts.items(), key=lambda kv: -kv[1])}, total


@cache
def sha256_speed():
    """Bytes a CPU second that SHA-256 (Python's hashlib, OpenSSL) hashes here, best of 3."""
    data = os.urandom(64 << 20)
    best = min(timed_once(lambda: hashlib.sha256(data).digest()) for _ in range(3))
    return len(data) / best


def timed_once(fn):
    """CPU seconds of fn() in this process (a shared machine's load leaves them be)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def sweep(car, kind, queries, ids, truth, work):
    """One run of each knob setting of each series until one reaches the target recall (recall is
    the same at every run; only the times vary): [(flags, wall, cpu, recall)] and the settings
    that reached it, the cheapest of each series."""
    out = work / "sweep.jsonl"
    rows, reached = [], []
    for series in KNOBS[kind]:
        for flags in series:
            wall, cpu = vecar_query(car, queries, flags, out)
            rows.append((flags, wall, cpu, hits_recall(out, ids, truth)))
            if rows[-1][3] >= TARGET_RECALL:
                reached.append(flags)
                break
    return rows, reached


def faiss_ef(fi, q10k, truth):
    """The smallest efSearch at which FAISS reaches the target recall (one search each)."""
    return next((ef for ef in (64, 80, 96, 128, 192, 256, 384) if recall(faiss_search(fi, q10k, ef)[2], truth) >= TARGET_RECALL), None)


def rounds(car, fi, q10k, queries, kinds, faiss_kinds, ids, truth, runs, work):
    """`runs` rounds of each of `kinds` (name: vecar flags) and `faiss_kinds` (name: efSearch),
    alternated: the median (wall, cpu) and the recall of each."""
    times = {name: [] for name in [*kinds, *faiss_kinds]}
    found = {}
    out = work / "hits.jsonl"
    for _ in range(runs):
        for name, flags in kinds.items():
            times[name].append(vecar_query(car, queries, flags, out))
            found[name] = hits_recall(out, ids, truth)
        for name, ef in faiss_kinds.items():
            wall, cpu, rows_found = faiss_search(fi, q10k, ef)
            times[name].append((wall, cpu))
            found[name] = recall(rows_found, truth)
    return {name: (median(t[0] for t in ts), median(t[1] for t in ts), found[name]) for name, ts in times.items()}


def measure(label, car, kind, fi, q10k, queries, one, ids, truth, runs, work):
    """The sweep, rounds, fixed cost and profile of one archive: its lines of the results."""
    rows, reached = sweep(car, kind, queries, ids, truth, work)
    kinds = {"vecar default": [], **{f"vecar {' '.join(flags)}": flags for flags in reached}}
    faiss_kinds = {FAISS: EF}
    matched = faiss_ef(fi, q10k, truth)
    if matched and matched != EF:
        faiss_kinds[f"FAISS efSearch {matched} (the smallest reaching recall 0.97), 2 threads"] = matched
    med = rounds(car, fi, q10k, queries, kinds, faiss_kinds, ids, truth, runs, work)
    best = min((name for name in kinds if name != "vecar default" and med[name][2] >= TARGET_RECALL),
               key=lambda name: med[name][1], default=None)
    f_wall, f_cpu, _ = med[FAISS]
    lines = [f"\n### {label}\n",
             "| what | wall s | CPU s | recall@10 | q/s (wall) | FAISS wall / this | FAISS CPU / this |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, (wall, cpu, r) in med.items():
        mark = " (fastest with recall >= 0.97)" if name == best else ""
        lines.append(f"| {name}{mark} | {wall:.3f} | {cpu:.3f} | {r:.4f} | {QUERIES / wall:,.0f} | {f_wall / wall:.2f} | {f_cpu / cpu:.2f} |")
    fixed = [vecar_query(car, one, [], work / "hits.jsonl") for _ in range(runs)]
    fixed_wall, fixed_cpu = median(t[0] for t in fixed), median(t[1] for t in fixed)
    d_cpu = med["vecar default"][1]
    lines.append(f"| vecar default, 1 query (the fixed cost) | {fixed_wall:.3f} | {fixed_cpu:.3f} | | | | |")
    verify = [vecar_run(["verify", str(car), "-q"], one, work / "verify.out") for _ in range(runs)]
    lines.append(f"| vecar verify (every block of the archive hashed once, the DAG walked) | {median(t[0] for t in verify):.3f} | "
                 f"{median(t[1] for t in verify):.3f} | | | | |")
    fair = [name for name in faiss_kinds if med[name][2] >= TARGET_RECALL]
    if best and fair:
        (fw, fc, fr), (vw, vc, vr) = med[fair[0]], med[best]
        lines.append(f"\nBoth at recall@10 >= 0.97: {fair[0].split(',')[0]} (recall {fr:.4f}) against {best} (recall {vr:.4f}): "
                     f"FAISS / vecar wall {fw / vw:.2f}, CPU {fc / vc:.2f}.")
    lines.append(f"\nCPU per query beyond the fixed cost, vecar default: {(d_cpu - fixed_cpu) / (QUERIES - 1) * 1e6:,.0f} µs; "
                 f"FAISS: {f_cpu / QUERIES * 1e6:,.0f} µs.")
    lines += ["\nKnob sweep (one run each; each --rescore series stops at the first setting with recall@10 >= 0.97, "
              "and those settings are timed in the rounds above):\n",
              "| flags | wall s | CPU s | recall@10 |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {' '.join(flags)} | {wall:.3f} | {cpu:.3f} | {r:.4f} |" for flags, wall, cpu, r in rows]
    shares = profile(car, queries, work)
    if shares:
        parts, samples_taken = shares
        lines += [f"\nWhere vecar default's CPU goes (perf record, one run, {samples_taken:,} samples at 499 Hz; "
                  "seconds = share x the median CPU above):\n",
                  "| part | share | ~CPU s |", "| --- | ---: | ---: |"]
        lines += [f"| {part} | {share:.1%} | {share * d_cpu:.2f} |" for part, share in parts.items()]
        sha = sum(share for part, share in parts.items() if part.startswith("SHA-256"))
        vector_bytes = json.loads(subprocess.check_output([str(VECAR), "info", "--json", str(car)]))["by_role"]["vectors"]["bytes"]
        once = vector_bytes / sha256_speed()
        lines.append(f"\nSHA-256 in all: {sha:.1%} of vecar's CPU, ~{sha * d_cpu:.2f} s. Hashing each vector chunk once "
                     f"({vector_bytes / 1e6:,.1f} MB, at this machine's SHA-256 speed, Python hashlib: {sha256_speed() / 1e9:.2f} GB/s) "
                     f"would take ~{once:.2f} s.")
    return lines


def faiss_index(x):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexHNSWFlat(x.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_ADD
    index.add(xn)
    index.hnsw.efSearch = EF
    return index


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (median)")
    parser.add_argument("--sets", default="dev,dev50k")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
    version = subprocess.check_output([str(VECAR), "--version"], text=True).strip()
    libs = ", ".join(f"{lib} {metadata.version(lib)}" for lib in ["faiss-cpu", "numpy"])
    load = os.getloadavg()
    out = [f"{version} at {commit}; {libs}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
           f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the start; "
           f"{QUERIES:,} queries (the dev set's 500, 20 times), -k 10; medians of {args.runs} rounds"]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for name in args.sets.split(","):
            jsonl, x, q = {"dev": dev_set, "dev50k": dev50k_set}[name](work)
            q = q[:500]
            order = np.arange(QUERIES) % len(q)
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            q10k = np.ascontiguousarray(qn[order], dtype=np.float32)
            truth = exact_top10(x, q)[order]
            queries, one = work / "q10k.jsonl", work / "q1.jsonl"
            queries.write_text("".join(json.dumps({"id": f"q{i:04d}", "vector": q[j].tolist()}) + "\n" for i, j in enumerate(order)))
            one.write_text(json.dumps({"id": "q0000", "vector": q[0].tolist()}) + "\n")
            ids = row_numbers(jsonl)
            fi = faiss_index(x)
            archives = [("", []), *([("--index hnsw", ["--index", "hnsw"])] if name == "dev50k" else [])]
            for build_label, flags in archives:
                car = work / f"{name}.car"
                subprocess.run([str(VECAR), "build", str(jsonl), "-o", str(car), "-q", *flags], check=True)
                info = json.loads(subprocess.check_output([str(VECAR), "info", "--json", str(car)]))
                kind = info["index"]
                label = f"{name}: {len(x):,} x {x.shape[1]}, `vecar build {build_label or '(default)'}` -> {kind} index, {info['dtype']}"
                out += measure(label, car, kind, fi, q10k, queries, one, ids, truth, args.runs, work)
                car.unlink()
            jsonl.unlink()
    publish(out, args.out)


if __name__ == "__main__":
    main()
