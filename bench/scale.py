"""A run at scale (issue 18): N synthetic rows of 384 numbers (bench/perf.py's distribution: 2,000
centres on the sphere plus noise, drawn in float32), written as JSONL straight into `vecar build -` (no input file
on disk: at 10M rows it would be 31 GB), then the archive's size, the build's wall time, CPU and
peak RSS, recall@10 of 100 queries against exact search (computed while the rows are written),
one query in a new process on the local file, and a cold query through a gateway with 20 ms
added per request: bytes, requests and dependent round trips.

The rows are written with 4 decimals at fixed width (JSON allows the spaces that pad them), so
numpy writes them at hundreds of MB/s; the generator still shares the machine with the build,
so the build row also gives the generator's own CPU.

Usage: bench/scale.sh [--rows 10000000] [--keep DIR] [--runs 5] [--out FILE] [-- build flags]
"""

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

import numpy as np

from partitioned import index_bytes, one_query, root, search
from perf import recall
from remote import blocks_of, server
from run import VECAR, publish

BLOCK = 20_000
DIMS = 384
QUERIES = 100
NPROBES = (8, 16, None, 64, 128)
# Fixed-width pieces of a line: {"id":<9>,"vector":[<384 x 8>,"text":"synthetic record <9>"}
HEAD, MIDDLE, TAIL = b'{"id":', b',"vector":[', b'"}\n'
TEXT = b',"text":"synthetic record '


def digits(values, width, pad):
    """`values` as right-aligned decimal digits, `width` bytes a row, padded with `pad`."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    out = (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    if pad != ord("0"):
        out[(values[:, None] < powers) & (powers > 1)] = pad
    return out


def number_words():
    """Every number a unit vector holds at 4 decimals, -1.0000 to 1.0000, as the 8 bytes the
    lines hold it in (a sign or a space, 6 digits and the point, a comma), one uint64 each."""
    tenths = np.arange(-10_000, 10_001)
    words = np.empty((len(tenths), 8), np.uint8)
    words[:, 0] = np.where(tenths < 0, ord("-"), ord(" "))
    words[:, 1:2] = digits(np.abs(tenths) // 10_000, 1, ord("0"))
    words[:, 2] = ord(".")
    words[:, 3:7] = digits(np.abs(tenths) % 10_000, 4, ord("0"))
    words[:, 7] = ord(",")
    return words.view(np.uint64).reshape(-1)


WORDS = number_words()


def points(rng, around, m):
    """m unit vectors, each a random centre of `around` plus noise (bench/perf.py's
    synthetic_points, drawn in float32 for speed)."""
    p = around[rng.integers(0, len(around), m)] + 0.08 * rng.standard_normal((m, DIMS), dtype=np.float32)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def jsonl_of(start, vectors):
    """The JSONL of `vectors` (unit vectors) numbered from `start`, and the float32 values the
    lines hold (4 decimals)."""
    n = len(vectors)
    tenths = np.rint(vectors * 10_000).astype(np.int32)
    numbers = WORDS[tenths + 10_000].view(np.uint8).reshape(n, DIMS * 8)
    numbers[:, -1] = ord("]")
    ids = np.arange(start, start + n, dtype=np.int64)
    parts = [
        np.broadcast_to(np.frombuffer(HEAD, np.uint8), (n, len(HEAD))),
        digits(ids, 9, ord(" ")),
        np.broadcast_to(np.frombuffer(MIDDLE, np.uint8), (n, len(MIDDLE))),
        numbers,
        np.broadcast_to(np.frombuffer(TEXT, np.uint8), (n, len(TEXT))),
        digits(ids, 9, ord("0")),
        np.broadcast_to(np.frombuffer(TAIL, np.uint8), (n, len(TAIL))),
    ]
    held = (tenths / 10_000).astype(np.float32)
    return np.concatenate(parts, axis=1).tobytes(), held


def centres():
    """bench/perf.py's 2,000 centres."""
    found = np.random.default_rng(7).standard_normal((2000, DIMS)).astype(np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def write_rows(sink, rows, queries):
    """Writes `rows` rows to `sink`; returns the exact top 10 row numbers of each query (cos) and
    the generator's CPU seconds."""
    around = centres()
    best = np.full((len(queries), 10), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), 10), np.int64)
    started = time.process_time()
    for start in range(0, rows, BLOCK):
        block_rng = np.random.default_rng([7, start])
        text, held = jsonl_of(start, points(block_rng, around, min(BLOCK, rows - start)))
        sink.write(text)
        scores = queries @ (held / np.linalg.norm(held, axis=1, keepdims=True)).T
        ids = np.broadcast_to(np.arange(start, start + len(held)), scores.shape)
        scores, ids = np.concatenate([best, scores], axis=1), np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        best, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return best_ids, time.process_time() - started


def anonymous_peak(pid, peak):
    """Samples the anonymous memory (RssAnon, MiB) of process `pid` until it ends, keeping the
    largest in `peak[0]`: peak RSS also counts mapped file pages the kernel may drop."""
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        kb = [int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon:")]
        if not kb:
            return
        peak[0] = max(peak[0], kb[0] / 1024)
        time.sleep(0.2)


def build(car, rows, queries, flags):
    """Builds `car` from `rows` generated rows; returns the truth, and the build's wall seconds,
    CPU seconds, peak RSS and peak anonymous memory (MiB), and the generator's CPU seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen([VECAR, "build", "-", "-o", str(car), "-q", *flags], stdin=subprocess.PIPE)
    peak = [0.0]
    threading.Thread(target=anonymous_peak, args=(proc.pid, peak), daemon=True).start()
    truth, generator = write_rows(proc.stdin, rows, queries)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"vecar build failed ({status})")
    return truth, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, peak[0], generator


def probing(nprobe):
    """The query flags for `nprobe` (None: the default)."""
    return [] if nprobe is None else ["--nprobe", str(nprobe)]


def cold_query(car, cache, vector, httpd, flags):
    """One query of `vector` on `car` through the gateway `httpd`, with an empty cache."""
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    gateway = ["--gateway", f"http://127.0.0.1:{httpd.server_port}", "--cache", str(cache)]
    found = one_query(f"ipfs://{root(car)}", vector.tolist(), gateway + flags)
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each single query (median)")
    parser.add_argument("--keep", type=Path, help="keep the archive and the truth here, and reuse them")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("flags", nargs="*", help="build flags (after --)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vecar-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    car, kept = work / f"scale-{args.rows}.car", work / f"scale-{args.rows}.npz"
    queries = points(np.random.default_rng([8, args.rows]), centres(), QUERIES)
    load = os.getloadavg()[0]
    lines = [f"### {args.rows:,} synthetic rows x {DIMS}", "", f"Load average {load:.1f} at the start."]
    if car.exists() and kept.exists():
        truth = np.load(kept)["truth"]
        lines.append("The archive was kept from an earlier run (no build row).")
    else:
        truth, wall, cpu, rss, anonymous, generator = build(car, args.rows, queries, args.flags)
        np.savez(kept, truth=truth)
        raw = args.rows * DIMS * 4 / 2**20
        lines.append(f"Build: {wall:,.0f} s wall, {cpu:,.0f} s CPU, peak RSS {rss:,.0f} MiB ({rss / raw:.2f}x the {raw:,.0f} MiB of raw float32), of which anonymous memory at most {anonymous:,.0f} MiB ({anonymous / raw:.2f}x; the rest is the vectors' temporary file, mapped); the generator took {generator:,.0f} s CPU beside it.")
    info = json.loads(subprocess.run([VECAR, "info", "--json", str(car)], check=True, capture_output=True).stdout)
    lines.append(f"Archive: {car.stat().st_size / 1e9:,.2f} GB, index {index_bytes(car) / 1e6:,.1f} MB, {info.get('partitions', {}).get('count', 0):,} partitions.")
    lines += ["", "| | value |", "| --- | ---: |"]
    asked = work / "queries.jsonl"
    asked.write_text("".join(json.dumps({"id": i, "vector": q.tolist()}) + "\n" for i, q in enumerate(queries)))
    for nprobe in NPROBES:
        seconds, hits = search(car, asked, probing(nprobe), 1)
        lines.append(f"| recall@10, {QUERIES} queries, nprobe {nprobe or 'default'} ({QUERIES / seconds:,.0f} q/s in one process) | {recall(hits, truth):.3f} |")
    local = [one_query(str(car), queries[i].tolist(), [])["wall"] for i in range(args.runs)]
    lines.append(f"| one query in a new process, local file (page cache as left by the build) | {median(local):.3f} s |")
    httpd = server(car, blocks_of(car), 0.020)
    for nprobe in (None, 8):
        cold = [cold_query(car, work / f"cache-{i}", queries[i], httpd, probing(nprobe)) for i in range(args.runs)]
        mid = {key: median(c[key] for c in cold) for key in cold[0]}
        lines.append(f"| gateway +20 ms, cold, nprobe {nprobe or 'default'} (median of {args.runs}) | {mid['wall']:.3f} s, {mid['bytes'] / 1e6:,.1f} MB ({mid['bytes'] / index_bytes(car):.2%} of the index), {mid['requests']:.0f} requests, {mid['rounds']:.0f} round trips |")
    httpd.shutdown()
    publish(lines, args.out)


if __name__ == "__main__":
    main()
