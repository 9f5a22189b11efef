"""The bridges on the dev set (10,000 x 384 real MiniLM vectors): records per second each way.

FAISS: `vecar export --to faiss` (flat and hnsw) of the dev archive, and `vecar import faiss` of
index files that faiss-cpu writes from the same vectors (IndexFlatIP, IndexHNSWFlat M=16,
IndexIVFFlat with 100 lists, IndexIDMap around a flat index; with and without --records),
beside `vecar build` of the same JSONL, which import shares. Every timing is the median of
--runs runs (a fresh process each, reading and writing files). A check after: FAISS opens the
exported files, and the hnsw one's recall@10 at efSearch 64 against exact search on the 500
dev queries is reported.

Usage: bench/bridge.sh [--runs 3] [--out bench/bridge-results.md]
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import faiss
import numpy as np

from run import DATA, VECAR, median_of, publish


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="vecar-bridge-"))
    docs = work / "docs.jsonl"
    docs.write_bytes(gzip.decompress((DATA / "docs.jsonl.gz").read_bytes()))
    lines = [json.loads(line) for line in docs.open()]
    n = len(lines)
    x = np.array([line["vector"] for line in lines], dtype="float32")
    queries = np.array([json.loads(q)["vector"] for q in gzip.decompress(
        (DATA / "queries.jsonl.gz").read_bytes()).splitlines()], dtype="float32")
    records = work / "records.jsonl"
    with records.open("w") as out:
        for i, line in enumerate(lines):
            fields = {k: v for k, v in line.items() if k not in ("id", "vector")}
            out.write(json.dumps({"id": i, "doc": line["id"], **fields}) + "\n")

    rows = []

    def timed(label, cmd):
        seconds, rss = median_of(args.runs, [str(c) for c in cmd])
        rows.append((label, seconds, rss))

    car = work / "docs.car"
    timed("vecar build (JSONL in, the same build path)", [VECAR, "build", docs, "-o", car, "-q"])

    flat_ip = faiss.IndexFlatIP(x.shape[1])
    flat_ip.add(x)
    hnsw = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(x)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], 100, faiss.METRIC_INNER_PRODUCT)
    ivf.train(x)
    ivf.add(x)
    idmap = faiss.IndexIDMap(faiss.IndexFlatIP(x.shape[1]))
    idmap.add_with_ids(x, np.arange(n, dtype="int64"))
    for name, index in [("flat", flat_ip), ("hnsw", hnsw), ("ivf", ivf), ("idmap", idmap)]:
        faiss.write_index(index, str(work / f"in-{name}.faiss"))
    out = work / "imported.car"
    for name, label in [("flat", "IndexFlatIP"), ("hnsw", "IndexHNSWFlat"), ("ivf", "IndexIVFFlat, 100 lists"),
                        ("idmap", "IndexIDMap(IndexFlatIP)")]:
        timed(f"import faiss {label}", [VECAR, "import", "faiss", work / f"in-{name}.faiss", "--metric", "cos",
                                          "-o", out, "-q"])
    timed("import faiss IndexFlatIP --records (text, metadata joined by id)",
          [VECAR, "import", "faiss", work / "in-flat.faiss", "--records", records, "--metric", "cos", "-o", out, "-q"])

    timed("export (JSONL, for comparison)", [VECAR, "export", car])
    for kind in ["flat", "hnsw"]:
        timed(f"export --to faiss --faiss-index {kind}",
              [VECAR, "export", car, "--to", "faiss", "--faiss-index", kind, "-o", work / f"out-{kind}.faiss", "-q"])

    exported = faiss.read_index(str(work / "out-hnsw.faiss"))
    exported.hnsw.efSearch = 64
    q = queries.copy()
    faiss.normalize_L2(q)
    _, exact = faiss.read_index(str(work / "out-flat.faiss")).search(q, 10)
    _, found = exported.search(q, 10)
    recall = np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, found)])

    table = [f"vecar bridges: dev set, {n:,} x {x.shape[1]}, median of {args.runs} runs, {os.cpu_count()} cores "
             f"(load average {load:.1f} at the start: the cores are shared), faiss-cpu {faiss.__version__}", "",
             "| what | median s | records/s | peak RSS MiB |", "| --- | ---: | ---: | ---: |"]
    for label, seconds, rss in rows:
        table.append(f"| {label} | {seconds:.3f} | {n / seconds:,.0f} | {rss:.0f} |")
    table += ["", f"FAISS opens both exports ({exported.ntotal:,} vectors); the hnsw export's recall@10 at "
              f"efSearch 64 against the flat export's exact search, {len(q)} dev queries: {recall:.4f}"]
    publish(table, args.out)


if __name__ == "__main__":
    main()
