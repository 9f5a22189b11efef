"""vecar against the Python HNSW libraries a user would otherwise script: FAISS, usearch, hnswlib.

Same data, same HNSW settings (M=16, ef_construction=128, ef_search=64), 2 threads unless noted.
Every timing is the median of --runs runs, measured in this invocation, and the targets of the
performance issue are printed as ratios against the baselines measured here:

  1. vecar build (JSONL -> finished CAR) / FAISS IndexHNSWFlat build from a numpy array
  2. vecar batch queries/s (1,000 queries on stdin, process start included) / FAISS 2-thread q/s
  3. vecar cold single query (fresh process) / fresh Python process: usearch Index.restore(view=True) + 1 search
  4. vecar query peak RSS / index bytes; vecar build peak RSS / raw float32 vector bytes

Datasets: `dev` is the shared dev set (10,000 x 384 real MiniLM vectors, its 500 queries);
`dev50k` is that set five times over, each copy's vectors nudged by small seeded noise (50,000
real-like vectors, the size the issue measured, with the dev set's 500 real queries); `synthetic`
is clustered unit vectors, 384-d, made here with a fixed seed (--size rows, 1,000 queries).
Recall@10 is against exact top-10 computed with numpy.

--scale N (e.g. 1000000) instead builds N synthetic clustered rows, each with a 2.3 KB text, and
times only vecar: one build (time, peak RSS), cold single queries and 1,000 batch queries
(target 5: under 15 minutes to build, a cold query under 0.5 s, archives over 4 GB).

Usage: bench/perf.sh [--runs 3] [--size 50000] [--datasets dev,dev50k,synthetic] [--scale N]
"""

import argparse
import gzip
from importlib import metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import hnswlib
import numpy as np
from usearch.index import Index

from run import DATA, VECAR, publish, run

M, EF_ADD, EF = 16, 128, 64


def timed(runs, fn):
    """Median seconds of fn() over runs, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def dev_set(tmp):
    docs = [json.loads(line) for line in gzip.open(DATA / "docs.jsonl.gz", "rt")]
    queries = [json.loads(line) for line in gzip.open(DATA / "queries.jsonl.gz", "rt")]
    jsonl = tmp / "dev.jsonl"
    with open(jsonl, "w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    x = np.array([d["vector"] for d in docs], dtype=np.float32)
    q = np.array([d["vector"] for d in queries], dtype=np.float32)
    return jsonl, x, q


def dev50k_set(tmp, copies=5):
    """The dev set `copies` times, each copy with its own ids and vectors nudged (seeded)."""
    docs = [json.loads(line) for line in gzip.open(DATA / "docs.jsonl.gz", "rt")]
    queries = [json.loads(line) for line in gzip.open(DATA / "queries.jsonl.gz", "rt")]
    base = np.array([d["vector"] for d in docs], dtype=np.float32)
    rng = np.random.default_rng(11)
    x = np.concatenate([base + 0.004 * rng.standard_normal(base.shape).astype(np.float32) for _ in range(copies)])
    jsonl = tmp / "dev50k.jsonl"
    with open(jsonl, "w") as f:
        for i, v in enumerate(x.tolist()):
            doc = docs[i % len(docs)]
            f.write(json.dumps({"id": f"{doc['id']}-{i // len(docs)}", "text": doc["text"], "vector": v}) + "\n")
    q = np.array([d["vector"] for d in queries], dtype=np.float32)
    return jsonl, x, q


def synthetic_points(rng, centres, m):
    """m unit vectors, each a random centre plus noise."""
    p = centres[rng.integers(0, len(centres), m)] + 0.08 * rng.standard_normal((m, centres.shape[1])).astype(np.float32)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def synthetic_set(tmp, n):
    """Clustered unit vectors: 2,000 centres on the sphere, each point a centre plus noise."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((2000, 384)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x, q = synthetic_points(rng, centres, n), synthetic_points(rng, centres, 1000)
    jsonl = tmp / "synthetic.jsonl"
    with open(jsonl, "w") as f:
        for i, v in enumerate(x.tolist()):
            f.write(json.dumps({"id": f"s{i:07d}", "vector": v, "text": f"synthetic record {i}"}) + "\n")
    return jsonl, x, q


def exact_top10(x, q):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    return np.argsort(-(qn @ xn.T), axis=1)[:, :10]


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))


def vecar_ids(jsonl_out, ids):
    by_query = {}
    for line in jsonl_out.splitlines():
        hit = json.loads(line)
        by_query.setdefault(hit["query"], []).append(ids[hit["id"]])
    return [by_query.get(f"q{i:04d}", []) for i in range(len(by_query))]


def bench(name, jsonl, x, q, runs, tmp, out):
    n, d = x.shape
    truth = exact_top10(x, q)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    rows = []

    def row(what, seconds, note="", rss=None):
        rows.append((what, seconds, note, rss))

    # FAISS HNSW, inner product on unit vectors (= cosine).
    faiss.omp_set_num_threads(2)

    def faiss_build():
        index = faiss.IndexHNSWFlat(d, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_ADD
        index.add(xn)
        return index

    faiss_build_s, fi = timed(runs, faiss_build)
    fi.hnsw.efSearch = EF
    faiss_recall = recall(fi.search(qn, 10)[1], truth)
    faiss.omp_set_num_threads(1)
    faiss_q1, _ = timed(runs, lambda: fi.search(qn, 10))
    faiss.omp_set_num_threads(2)
    faiss_q2, _ = timed(runs, lambda: fi.search(qn, 10))
    row("FAISS IndexHNSWFlat build (from numpy)", faiss_build_s, f"recall@10 {faiss_recall:.3f}")
    row(f"FAISS search {len(q)} queries, 1 thread", faiss_q1, f"{len(q) / faiss_q1:,.0f} q/s")
    row(f"FAISS search {len(q)} queries, 2 threads", faiss_q2, f"{len(q) / faiss_q2:,.0f} q/s")

    # usearch (Python), f32 cos and i8 ip; the f32 one is saved for the cold-start baseline.
    for dtype, metric, data, queries in [("f32", "cos", x, q), ("i8", "ip", xn, qn)]:
        def usearch_build():
            index = Index(ndim=d, metric=metric, dtype=dtype, connectivity=M, expansion_add=EF_ADD, expansion_search=EF)
            index.add(np.arange(n), data, threads=2)
            return index

        build_s, ui = timed(runs, usearch_build)
        found = ui.search(queries, 10, threads=2).keys
        search_s, _ = timed(runs, lambda: ui.search(queries, 10, threads=2))
        row(f"usearch {dtype} {metric} build", build_s, f"recall@10 {recall(found, truth):.3f}, {len(q) / search_s:,.0f} q/s on 2 threads")
        if dtype == "f32":
            saved = tmp / f"{name}.usearch"
            ui.save(str(saved))

    def hnswlib_build():
        index = hnswlib.Index(space="ip", dim=d)
        index.init_index(max_elements=n, ef_construction=EF_ADD, M=M)
        index.set_num_threads(2)
        index.add_items(xn)
        return index

    build_s, hi = timed(runs, hnswlib_build)
    hi.set_ef(EF)
    search_s, (labels, _) = timed(runs, lambda: hi.knn_query(qn, k=10))
    row("hnswlib build", build_s, f"recall@10 {recall(labels, truth):.3f}, {len(q) / search_s:,.0f} q/s on 2 threads")

    cold_py = [sys.executable, "-c",
               "import sys, numpy as np\nfrom usearch.index import Index\n"
               "index = Index.restore(sys.argv[1], view=True)\n"
               "index.search(np.array(eval(sys.argv[2]), dtype=np.float32), 10)",
               str(saved), json.dumps(q[0].tolist())]
    py_cold = statistics.median(run(cold_py)[0] for _ in range(runs))
    row("Python cold: usearch Index.restore(view=True) + 1 search, fresh process", py_cold)

    # vecar: JSONL in, CAR out; queries from stdin; a cold single query.
    car = tmp / f"{name}.car"
    build = [str(VECAR), "build", str(jsonl), "-o", str(car), "-q"]
    builds = [run(build) for _ in range(runs)]
    vecar_build = statistics.median(b[0] for b in builds)
    build_rss = max(b[1] for b in builds)
    ids = {}
    with open(jsonl) as f:
        for i, line in enumerate(f):
            ids[json.loads(line)["id"]] = i
    queries_in = "".join(json.dumps({"id": f"q{i:04d}", "vector": v}) + "\n" for i, v in enumerate(q.tolist())).encode()
    query = [str(VECAR), "query", str(car), "-k", "10"]
    queries = [run(query, queries_in, subprocess.PIPE) for _ in range(runs)]
    vecar_q = statistics.median(r[0] for r in queries)
    query_rss = max(r[1] for r in queries)
    vecar_recall = recall(vecar_ids(queries[-1][2], ids), truth)
    wide = [run(query + ["--ef", "96"], queries_in, subprocess.PIPE) for _ in range(runs)]
    wide_q = statistics.median(r[0] for r in wide)
    wide_recall = recall(vecar_ids(wide[-1][2], ids), truth)
    cold = [str(VECAR), "query", str(car), "-k", "10", "--vector", json.dumps(q[0].tolist())]
    vecar_cold = statistics.median(run(cold)[0] for _ in range(runs))
    # The same with a bf16 index: a slower build, a graph as good as float32's.
    car16 = tmp / f"{name}-bf16.car"
    bf16_build = statistics.median(run(build[:4] + [str(car16), "-q", "--dtype", "bf16"])[0] for _ in range(runs))
    bf16_queries = [run(query[:2] + [str(car16)] + query[3:], queries_in, subprocess.PIPE) for _ in range(runs)]
    bf16_q = statistics.median(r[0] for r in bf16_queries)
    bf16_recall = recall(vecar_ids(bf16_queries[-1][2], ids), truth)
    info = json.loads(subprocess.check_output([str(VECAR), "info", "--json", str(car)]))
    index_bytes = info["by_role"]["index"]["bytes"]
    raw = n * d * 4
    row("vecar build (JSONL -> CAR, parsing included)", vecar_build, f"{info['dtype']} index", build_rss)
    row(f"vecar query {len(q)} queries from stdin (process start included)", vecar_q,
        f"recall@10 {vecar_recall:.3f}, {len(q) / vecar_q:,.0f} q/s", query_rss)
    row(f"vecar query {len(q)} queries --ef 96", wide_q, f"recall@10 {wide_recall:.3f}, {len(q) / wide_q:,.0f} q/s")
    row("vecar cold single query (fresh process, --vector)", vecar_cold)
    row("vecar build --dtype bf16", bf16_build, "bf16 index")
    row(f"vecar query {len(q)} queries, bf16 index", bf16_q, f"recall@10 {bf16_recall:.3f}, {len(q) / bf16_q:,.0f} q/s")

    faiss_qps, vecar_qps = len(q) / faiss_q2, len(q) / vecar_q
    targets = [
        ("1. build time vs FAISS (<= 1.0, recall at ef 64 >= FAISS's)", vecar_build / faiss_build_s,
         vecar_build <= faiss_build_s and vecar_recall >= faiss_recall),
        ("1'. the same, --dtype bf16", bf16_build / faiss_build_s,
         bf16_build <= faiss_build_s and bf16_recall >= faiss_recall),
        ("2. queries/s vs FAISS 2 threads (>= 1.0, recall >= 0.97)", vecar_qps / faiss_qps,
         vecar_qps >= faiss_qps and vecar_recall >= 0.97),
        ("3. cold query vs Python usearch view (<= 0.25)", vecar_cold / py_cold, vecar_cold <= 0.25 * py_cold),
        ("4a. query peak RSS / index bytes (<= 1.3)", query_rss * 2**20 / index_bytes, query_rss * 2**20 <= 1.3 * index_bytes),
        ("4b. build peak RSS / raw float32 bytes (<= 2.5)", build_rss * 2**20 / raw, build_rss * 2**20 <= 2.5 * raw),
    ]
    out.append(f"\n### {name}: {n:,} x {d}, {len(q):,} queries, median of {runs} runs\n")
    out.append("| what | median s | peak RSS MiB | note |")
    out.append("| --- | ---: | ---: | --- |")
    for what, seconds, note, rss in rows:
        out.append(f"| {what} | {seconds:.3f} | {'' if rss is None else f'{rss:.0f}'} | {note} |")
    out.append(f"\nindex {index_bytes:,} bytes, archive {info['file_bytes']:,} bytes, raw float32 vectors {raw:,} bytes\n")
    out.append("| target | ratio | met |")
    out.append("| --- | ---: | --- |")
    for what, ratio, met in targets:
        out.append(f"| {what} | {ratio:.2f} | {'yes' if met else 'no'} |")


def scale(tmp, n, runs, out):
    """Target 5: vecar alone on n synthetic rows with 2 KB texts, written in slices."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((2000, 384)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    jsonl, filler = tmp / "scale.jsonl", "lorem ipsum dolor sit amet " * 86
    with open(jsonl, "w") as f:
        for start in range(0, n, 50_000):
            for i, v in enumerate(synthetic_points(rng, centres, min(50_000, n - start)).tolist(), start):
                f.write(json.dumps({"id": f"s{i:08d}", "vector": [round(x, 7) for x in v], "text": f"{i} {filler}"}) + "\n")
    q = synthetic_points(rng, centres, 1000)
    car = tmp / "scale.car"
    build_s, build_rss, _ = run([str(VECAR), "build", str(jsonl), "-o", str(car), "-q"])
    info = json.loads(subprocess.check_output([str(VECAR), "info", "--json", str(car)]))
    jsonl.unlink()
    cold = [str(VECAR), "query", str(car), "-k", "10", "--vector", json.dumps(q[0].tolist())]
    colds = [run(cold) for _ in range(runs)]
    queries_in = "".join(json.dumps(v) + "\n" for v in q.tolist()).encode()
    batch = [run([str(VECAR), "query", str(car), "-k", "10"], queries_in) for _ in range(runs)]
    v1 = tmp / "scale-v1.car"  # the CARv1 inside the CARv2: the same archive without the block index
    with open(car, "rb") as src, open(v1, "wb") as dst:
        header = src.read(51)
        offset, size = int.from_bytes(header[27:35], "little"), int.from_bytes(header[35:43], "little")
        src.seek(offset)
        while size:
            size -= dst.write(src.read(min(size, 1 << 24)))
    cold_v1 = [run(cold[:2] + [str(v1)] + cold[3:]) for _ in range(runs)]
    v1.unlink()
    cold_s = statistics.median(c[0] for c in colds)
    cold_v1_s = statistics.median(c[0] for c in cold_v1)
    batch_s = statistics.median(b[0] for b in batch)
    index_bytes = info["by_role"]["index"]["bytes"]
    out.append(f"\n### scale: {n:,} x 384 synthetic, 2.3 KB text a record (over 4 GiB at 1M); build once, queries median of {runs}\n")
    out.append("| what | seconds | peak RSS MiB | note |")
    out.append("| --- | ---: | ---: | --- |")
    out.append(f"| vecar build | {build_s:.1f} | {build_rss:.0f} | {build_rss * 2**20 / (n * 384 * 4):.2f}x raw float32 |")
    out.append(f"| vecar cold single query | {cold_s:.3f} | {max(c[1] for c in colds):.0f} | {max(c[1] for c in colds) * 2**20 / index_bytes:.2f}x index |")
    out.append(f"| the same, archive as CARv1 (no block index) | {cold_v1_s:.3f} | {max(c[1] for c in cold_v1):.0f} | CARv2 index: {cold_s / cold_v1_s:.2f}x |")
    out.append(f"| vecar 1,000 queries from stdin | {batch_s:.3f} | {max(b[1] for b in batch):.0f} | {1000 / batch_s:,.0f} q/s |")
    out.append(f"\narchive {info['file_bytes']:,} bytes ({'over' if info['file_bytes'] > 4 * 2**30 else 'under'} 4 GiB), index {index_bytes:,} bytes, {info['blocks']:,} blocks")
    out.append(f"\ntarget 5: build under 15 min: {'yes' if build_s < 900 else 'no'}; cold query under 0.5 s: {'yes' if cold_s < 0.5 else 'no'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=50_000, help="rows of the synthetic set")
    parser.add_argument("--datasets", default="dev,dev50k,synthetic")
    parser.add_argument("--scale", type=int, help="only the scale run, with this many rows")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    version = subprocess.check_output([str(VECAR), "--version"], text=True).strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    libs = ", ".join(f"{lib} {metadata.version(lib)}" for lib in ["faiss-cpu", "usearch", "hnswlib", "numpy"])
    out = [f"{version}; {libs}; {os.cpu_count()} cores ({cpu}); {time.strftime('%Y-%m-%d')}"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.scale:
            scale(tmp, args.scale, args.runs, out)
        for name in [] if args.scale else args.datasets.split(","):
            sets = {"dev": dev_set, "dev50k": dev50k_set, "synthetic": lambda t: synthetic_set(t, args.size)}
            jsonl, x, q = sets[name](tmp)
            bench(name, jsonl, x, q, args.runs, tmp, out)
    publish(out, args.out)


if __name__ == "__main__":
    main()
