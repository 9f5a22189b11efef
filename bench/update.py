"""Benchmarks archive updates on 100,000 real-looking records: add, rm, merge and block reuse.

The records are the dev set (../shared/data, 10,000 x 384 all-MiniLM-L6-v2) eleven times over,
each copy with its own ids and its vectors nudged by a small deterministic noise, so the index
sees distinct points with the dev set's distribution: a base of 100,000 and 1,000 more to add. Every timing is the median of several
runs and is also given as a ratio to the baseline measured in the same run: `vecar build` of the
updated JSONL from scratch, which is what an update replaces.

Usage: cargo build --release && python3 bench/update.py [--runs 3]
"""

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from run import VECAR, DATA, median_of

COPIES = 11  # 110,000 rows: a base of 100,000 and 1,000 to add


def write_records(path, docs, ids):
    with open(path, "w") as out:
        for doc_id, doc in zip(ids, docs):
            out.write(json.dumps({**doc, "id": doc_id}) + "\n")


def make_docs():
    """The dev set COPIES times, each copy's vectors nudged, in a shuffled order."""
    with gzip.open(DATA / "docs.jsonl.gz", "rt") as f:
        base = [json.loads(line) for line in f]
    rng = random.Random(42)
    docs = []
    for copy in range(COPIES):
        for doc in base:
            vector = [round(v + rng.gauss(0, 0.01), 6) for v in doc["vector"]]
            docs.append({**doc, "vector": vector, "copy": copy})
    ids = [f"{doc['id']}-{doc['copy']}" for doc in docs]
    order = list(range(len(docs)))
    rng.shuffle(order)
    return [docs[i] for i in order], [ids[i] for i in order]


def cids(car, roles=("records", "vectors")):
    out = subprocess.run([VECAR, "ls", "--json", car], capture_output=True, check=True).stdout
    return {b["cid"] for b in map(json.loads, out.splitlines()) if b["role"] in roles}


def reuse(base, new):
    old = cids(base)
    return len(old & cids(new)) / len(old)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    docs, ids = make_docs()
    extra, base_docs = docs[:1000], docs[1000:101_000]
    extra_ids, base_ids = ids[:1000], ids[1000:101_000]
    n = len(base_docs)
    removed = set(base_ids[50::100])

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        write_records(t / "base.jsonl", base_docs, base_ids)
        write_records(t / "more.jsonl", extra, extra_ids)
        write_records(t / "added.jsonl", base_docs + extra, base_ids + extra_ids)
        kept = [(i, d) for i, d in zip(base_ids, base_docs) if i not in removed]
        write_records(t / "removed.jsonl", [d for _, d in kept], [i for i, _ in kept])
        (t / "ids.txt").write_text("".join(i + "\n" for i in sorted(removed)))
        car = lambda name: str(t / name)  # noqa: E731
        q = ["-q"]

        rows = []

        def measure(label, cmd, baseline=None, note=lambda: ""):
            """Times cmd; ratio to `baseline` seconds, 1.00 for a baseline row, none for setup;
            `note` is called after the runs."""
            seconds, rss = median_of(args.runs, [str(VECAR), *cmd, *q])
            ratio = f"{seconds / baseline:.2f}" if baseline else ("1.00" if label.startswith("baseline") else "")
            rows.append(f"| {label} | {seconds:.3f} | {ratio} | {rss:.0f} | {note()} |")
            return seconds

        measure(f"build the base, {n} records", ["build", car("base.jsonl"), "-o", car("base.car")])
        added_build = measure(f"baseline: build {n + 1000} records (the base + 1000)", ["build", car("added.jsonl"), "-o", car("built-added.car")])
        measure("add 1000 new ids (index extended in place)", ["add", car("base.car"), car("more.jsonl"), "-o", car("added.car")], added_build,
                lambda: f"reuses {reuse(car('base.car'), car('added.car')):.2%} of the base's record+vector blocks")
        measure("add 1000 new ids --reindex", ["add", car("base.car"), car("more.jsonl"), "-o", car("reindexed.car"), "--reindex"], added_build)
        removed_build = measure(f"baseline: build {n - len(removed)} records (the base less 1%)", ["build", car("removed.jsonl"), "-o", car("built-removed.car")])
        measure(f"rm {len(removed)} ids, every 100th row (index rebuilt)", ["rm", car("base.car"), "--ids-from", car("ids.txt"), "-o", car("removed.car")], removed_build,
                lambda: f"reuses {reuse(car('base.car'), car('removed.car')):.2%}")
        subprocess.run([VECAR, "build", car("more.jsonl"), "-o", car("more.car"), *q], check=True)
        measure("merge base.car + 1000-record archive", ["merge", car("base.car"), car("more.car"), "-o", car("merged.car")], added_build,
                lambda: f"reuses {reuse(car('base.car'), car('merged.car')):.2%}")
        measure("diff base.car added.car", ["diff", car("base.car"), car("added.car")])

        same = all(cids(car(a)) == cids(car(b)) for a, b in [("added.car", "built-added.car"), ("removed.car", "built-removed.car")])
        print(f"vecar update bench: {n} x 384 records (dev set copies, nudged), median of {args.runs} runs, 2 cores\n")
        print("| what | median s | x baseline | peak RSS MiB | note |")
        print("| --- | ---: | ---: | ---: | --- |")
        print("\n".join(rows))
        print(f"\nrecord and vector blocks of add/rm equal those of a fresh build of the same rows: {same}")


if __name__ == "__main__":
    sys.exit(main())
