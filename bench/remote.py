"""Remote queries: what a query on an archive that lives elsewhere fetches, and how long it takes.

A 50,000-record archive (the 10,000 dev vectors, each also in four jittered copies, 384
dimensions) is served by a local server (this script) two ways: as a trustless gateway
(`GET /ipfs/{cid}?format=raw`, for `vecar query ipfs://CID --gateway URL`) and as a CARv2 file
answering range requests (`vecar query http://.../x.car`), each with 0 and 20 ms of latency added
to every request. For each, a cold query (empty cache) and a warm one (the same cache, another
query vector): bytes of blocks fetched, requests, round trips (batches fetched together) and wall
time, as vecar reports them on stderr. Then `vecar pull` of the whole archive from the gateway,
as one CAR (`?format=car`) and block by block (a gateway that refuses CARs), and a remote
`vecar ls`: bytes and requests as the server counts them, and wall time. Medians of --runs runs.

Usage: bench/remote.sh [--runs 3] [--records 50000] [--out bench/remote-results.md]
"""

import argparse
import gzip
import json
import mmap
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from statistics import median

from run import DATA, VECAR, publish

STATS = re.compile(r"fetched (\d+) bytes in (\d+) requests, (\d+) round trips")


def mapped(car):
    """The bytes of `car`, mapped rather than read (a 10M-row archive is 20 GB): slices of it are
    views, not copies."""
    with open(car, "rb") as f:
        return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))


def blocks_of(car):
    """Every block of `car` by CID, located with `vecar ls --json`."""
    data = mapped(car)
    listing = subprocess.run([VECAR, "ls", "--json", str(car)], check=True, capture_output=True, text=True)
    blocks = {}
    for line in listing.stdout.splitlines():
        entry = json.loads(line)
        at, length, shift = entry["offset"], 0, 0
        while True:
            byte = data[at]
            length |= (byte & 0x7F) << shift
            at += 1
            shift += 7
            if byte < 0x80:
                break
        end = at + length
        blocks[entry["cid"]] = data[end - entry["size"] : end]
    return blocks


def payload(file):
    """The CARv1 inside the CARv2 `file`: what a gateway sends for `?format=car`."""
    offset, size = (int.from_bytes(bytes(file[11 + at : 11 + at + 8]), "little") for at in (16, 24))
    return file[offset : offset + size]


def server(car, blocks, latency):
    """A gateway and range server for `car` on a free port, adding `latency` seconds. It counts
    the requests and body bytes it sends (`httpd.sent`), and answers `?format=car` with the
    archive's CARv1 while `httpd.cars` is true, with 501 otherwise."""
    file = mapped(car)
    whole = payload(file)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without this, Nagle's algorithm holds the body
        # back for the client's delayed ACK (40 ms a request).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def send(self, status, body, headers=()):
            with self.server.lock:
                self.server.sent["requests"] += 1
                self.server.sent["bytes"] += len(body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            time.sleep(latency)
            if self.path.startswith("/ipfs/") and self.path.endswith("?format=raw"):
                block = blocks.get(self.path[len("/ipfs/") : -len("?format=raw")])
                if block is None:
                    return self.send(404, b"not found")
                return self.send(200, block, [("Content-Type", "application/vnd.ipld.raw")])
            if self.path.startswith("/ipfs/") and "format=car" in self.path:
                if not self.server.cars:
                    return self.send(501, b"CAR responses are not served here")
                return self.send(200, whole, [("Content-Type", "application/vnd.ipld.car")])
            if self.path == "/x.car":
                first, last = self.headers["Range"].removeprefix("bytes=").split("-")
                first, last = int(first), min(int(last), len(file) - 1)
                return self.send(206, file[first : last + 1], [("Content-Range", f"bytes {first}-{last}/{len(file)}")])
            self.send(404, b"not found")

    class Server(ThreadingHTTPServer):
        # The default backlog of 5 drops connections when vecar opens 16 at once (each dropped
        # SYN costs a 1 s retransmit): a real gateway listens with a deep backlog.
        request_queue_size = 128

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.lock, httpd.sent, httpd.cars = threading.Lock(), {"requests": 0, "bytes": 0}, True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def make_archive(work, records):
    """The archive of `records` records: the dev set, then jittered copies of it."""
    lines = [json.loads(line) for line in gzip.open(DATA / "docs.jsonl.gz", "rt")]
    rng = np.random.default_rng(7)
    docs = work / "docs.jsonl"
    with docs.open("w") as out:
        for i in range(records):
            line = dict(lines[i % len(lines)])
            if i >= len(lines):
                vector = np.array(line["vector"], dtype="float32") + rng.normal(0, 0.02, 384).astype("float32")
                line["vector"] = (vector / np.linalg.norm(vector)).tolist()
                line["id"] = f"{line['id']}-{i // len(lines)}"
            out.write(json.dumps(line) + "\n")
    car = work / "docs.car"
    subprocess.run([VECAR, "build", str(docs), "-o", str(car), "--threads", "2", "-q"], check=True)
    return car


def query(target, flags, vector):
    """One query; its fetch statistics and wall time."""
    started = time.perf_counter()
    run = subprocess.run(
        [VECAR, "query", target, "-k", "10", "--vector", json.dumps(vector), *flags],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"vecar query failed: {run.stderr}")
    found = STATS.search(run.stderr)
    return {"bytes": int(found[1]), "requests": int(found[2]), "rounds": int(found[3]), "wall": wall}


def fetch_whole(httpd, command):
    """Runs `command` (a pull or an ls through `httpd`); the requests and bytes the server sent
    for it, and its wall time."""
    with httpd.lock:
        httpd.sent.update(requests=0, bytes=0)
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed: {run.stderr}")
    with httpd.lock:
        return {"bytes": httpd.sent["bytes"], "requests": httpd.sent["requests"], "wall": wall}


def whole_archive(work, root, httpd, base, runs):
    """Rows for `vecar pull` as one CAR and block by block, and for a remote `vecar ls`."""
    rows = []
    for way, cars, command in (
        ("pull, one CAR", True, ["pull", root, "-o", str(work / "pulled.car"), "--gateway", base]),
        ("pull, block by block", False, ["pull", root, "-o", str(work / "pulled.car"), "--gateway", base]),
        ("ls", True, ["ls", f"ipfs://{root}", "--gateway", base, "--no-cache"]),
    ):
        httpd.cars = cars
        results = [fetch_whole(httpd, [VECAR, *command]) for _ in range(runs)]
        rows.append((way, {key: median([r[key] for r in results]) for key in results[0]}))
    httpd.cars = True
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--records", type=int, default=50_000, help="records in the archive")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="vecar-remote-"))
    car = make_archive(work, args.records)
    size = car.stat().st_size
    root = subprocess.run([VECAR, "root", str(car)], check=True, capture_output=True, text=True).stdout.strip()
    blocks = blocks_of(car)
    queries = [json.loads(line)["vector"] for line in gzip.open(DATA / "queries.jsonl.gz", "rt")]
    local = median([query_local(car, queries[0]) for _ in range(args.runs)])

    rows, whole = [], []
    for latency in (0.0, 0.020):
        httpd = server(car, blocks, latency)
        base = f"http://127.0.0.1:{httpd.server_port}"
        for way, row in whole_archive(work, root, httpd, base, args.runs):
            whole.append((f"{way}, {latency * 1000:.0f} ms", row))
        for way, target, flags in (
            ("gateway", f"ipfs://{root}", ["--gateway", base]),
            ("ranges", f"{base}/x.car", []),
        ):
            cold, warm = [], []
            for run in range(args.runs):
                cache = work / f"cache-{latency}-{way}-{run}"
                cold.append(query(target, flags + ["--cache", str(cache)], queries[2 * run]))
                warm.append(query(target, flags + ["--cache", str(cache)], queries[2 * run + 1]))
            for kind, results in (("cold", cold), ("warm", warm)):
                row = {key: median([r[key] for r in results]) for key in results[0]}
                rows.append((f"{way}, {latency * 1000:.0f} ms", kind, row))
        httpd.shutdown()

    table = [
        f"Remote queries on a {args.records:,}-record archive (384 dims, {size:,} bytes, {len(blocks)} blocks), "
        f"one `--vector` query, -k 10; median of {args.runs} runs; load average {load:.1f} at the start. "
        f"A local query on the file takes {local * 1000:.0f} ms.",
        "",
        "| server, latency | query | bytes fetched | of the archive | requests | round trips | wall |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for where, kind, row in rows:
        table.append(
            f"| {where} | {kind} | {row['bytes']:,.0f} | {row['bytes'] / size:.1%} | {row['requests']:.0f} | "
            f"{row['rounds']:.0f} | {row['wall'] * 1000:.0f} ms |"
        )
    table += [
        "",
        "The whole archive from the gateway: `vecar pull` as one CAR (`?format=car`) and block by block "
        "(the gateway answers 501 to `?format=car`), and `vecar ls ipfs://CID --no-cache`; bytes and "
        "requests as the server counts them.",
        "",
        "| command, latency | bytes sent | of the archive | requests | wall |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for what, row in whole:
        table.append(
            f"| {what} | {row['bytes']:,.0f} | {row['bytes'] / size:.1%} | {row['requests']:.0f} | "
            f"{row['wall'] * 1000:,.0f} ms |"
        )
    publish(table, args.out)


def query_local(car, vector):
    """Wall time of one query on the file."""
    started = time.perf_counter()
    subprocess.run([VECAR, "query", str(car), "-k", "10", "--vector", json.dumps(vector)], check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
