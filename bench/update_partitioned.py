"""`vecar rm` on a partitioned archive: time, CPU and block reuse, this checkout's vecar against
another one (--before: a build of main before a change, say).

The set is bench/perf.py's dev50k (the dev set's 10,000 vectors and four nudged copies of each,
384 dimensions), built once with `--index partitioned` (about √50,000 = 224 partitions). The
removals: 1,000 ids spread over the archive (every 50th row), and the last 1,000, 100 and 10
rows (rows near the end renumber no partition's other rows; a partition keeps its block only if
it loses none of them, and 1,000 rows touch nearly all of 224 partitions). Each
binary runs each removal --runs times, the two alternated (the machine is shared and noisy); the
table gives the median wall-clock seconds and CPU seconds (user+sys, of vecar alone), how the
index was made, and the block reuse: the share of the new archive's bytes that are in blocks the
base already had, in all and by role (the centroids are the `index` role; link nodes count in
"all" only). Every archive written is checked with `vecar verify`.

Usage: bench/update_partitioned.sh --before /ABSOLUTE/PATH/vecar [--runs 3] [--keep DIR] [--out FILE]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from statistics import median

from perf import dev50k_set
from run import VECAR

ROLES = ("partitions", "index", "records", "vectors")


def timed(vecar, args):
    """Wall-clock seconds of `vecar ARGS`, the CPU seconds it used, and its stderr."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([str(vecar), *args], check=True, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)
    return wall, cpu, proc.stderr


def blocks(car):
    out = subprocess.run([str(VECAR), "ls", "--json", str(car)], check=True, capture_output=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def reuse(base, new):
    """Per role, and under "all": the share of `new`'s bytes in blocks that `base` has too."""
    old = {b["cid"] for b in blocks(base)}
    shared, total = Counter(), Counter()
    for b in blocks(new):
        for role in (b["role"], "all"):
            total[role] += b["size"]
            shared[role] += b["size"] if b["cid"] in old else 0
    return {role: shared[role] / total[role] for role in total}


def the_base(work):
    """The dev50k JSONL's ids and its partitioned archive: made in `work`, or kept from an
    earlier run (--keep)."""
    jsonl, car = work / "dev50k.jsonl", work / "base.car"
    if not jsonl.exists():
        dev50k_set(work)
    if not car.exists():
        subprocess.run([str(VECAR), "-q", "build", str(jsonl), "-o", str(car), "--index", "partitioned"], check=True)
    ids = [json.loads(line)["id"] for line in open(jsonl)]
    return ids, car


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the vecar binary to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the set and the base archive here, and reuse them")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vecar-rm-"))
    work.mkdir(parents=True, exist_ok=True)
    ids, base = the_base(work)
    cases = {
        "1,000: every 50th row": ids[49::50],
        "1,000: the last rows": ids[-1000:],
        "100: the last rows": ids[-100:],
        "10: the last rows": ids[-10:],
    }
    binaries = {"before": args.before, "after": VECAR}
    rows = []
    for case, removed in cases.items():
        (work / "ids.txt").write_text("".join(f"{i}\n" for i in removed))
        times = {name: [] for name in binaries}
        for _ in range(args.runs):
            for name, vecar in binaries.items():
                out = work / f"{name}.car"
                times[name].append(timed(vecar, ["rm", str(base), "--ids-from", str(work / "ids.txt"), "-o", str(out)]))
        for name in binaries:
            out = work / f"{name}.car"
            subprocess.run([str(VECAR), "-q", "verify", str(out)], check=True, capture_output=True)
            shares = reuse(base, out)
            # "wrote X: 1000 removed, 49000 records, index rebuilt; 6,278 blocks, ...": "rebuilt"
            made = times[name][-1][2].split(" records, index ")[-1].split(";")[0].split(",")[0]
            wall, cpu = median(t[0] for t in times[name]), median(t[1] for t in times[name])
            cells = " | ".join(f"{shares.get(role, 0):.1%}" for role in ("all", *ROLES))
            rows.append(f"| {case} | {name} | {wall:.2f} | {cpu:.2f} | {made} | {cells} |")
    table = "\n".join([
        f"rm from {len(ids)} x 384 rows (dev50k, --index partitioned), "
        f"median of {args.runs} runs, before and after alternated\n",
        "| removed | vecar | median s | CPU s (user+sys) | index | reuse: all bytes | partitions | centroids | records | vectors |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ])
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
