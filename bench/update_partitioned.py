"""`vecar rm`, and `vecar add` of rows that replace others, on a partitioned archive: time, CPU
and block reuse, this checkout's vecar against another one (--before: a build of main before a
change, say).

The set is bench/perf.py's dev50k (the dev set's 10,000 vectors and four nudged copies of each,
384 dimensions), built once by each binary with `--index partitioned` (about √50,000 = 224
partitions; each binary updates its own build, so a layout change is compared whole). The
removals: 1,000 ids spread over the archive (every 50th row), the last 1,000, 100 and 10 rows,
and 10 spread (every 5,000th): rows are positions, so removing a row renumbers every later one;
at ~220 rows a partition, 1,000 removed rows touch nearly all 224 partitions, 10 touch 10. The
replacements: `add` of 1,000 (every 50th) and 10 (every 5,000th) of the rows again, each with
the vector of the row 7 after it (same id and record), so most move to another partition. Each
binary runs each update --runs times, the two alternated (the machine is shared and noisy); the
table gives the median wall-clock seconds and CPU seconds (user+sys, of vecar alone), how the
index was made, and the block reuse: the share of the new archive's bytes that are in blocks its
base already had, in all and by role ("partitions" is every partition block: the codes and, in
the row-list layout, the row lists, which are also given apart; the centroids are the `index`
role; link nodes count in "all" only). Every archive written is checked with `vecar verify`.
--cases WORD runs only the updates whose name has WORD ("rm", "replace").

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

ROLES = ("partition blocks", "partitions", "row-lists", "index", "records", "vectors")


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
        both = ("partition blocks",) if b["role"] in ("partitions", "row-lists") else ()
        for role in (b["role"], "all", *both):
            total[role] += b["size"]
            shared[role] += b["size"] if b["cid"] in old else 0
    return {role: shared[role] / total[role] for role in total}


def the_set(work):
    """The dev50k JSONL and its ids: made in `work`, or kept from an earlier run (--keep)."""
    jsonl = work / "dev50k.jsonl"
    if not jsonl.exists():
        dev50k_set(work)
    return jsonl, [json.loads(line)["id"] for line in open(jsonl)]


def the_base(vecar, jsonl, car):
    """`car`, the partitioned archive `vecar` builds of `jsonl` (kept from an earlier run)."""
    if not car.exists():
        subprocess.run([str(vecar), "-q", "build", str(jsonl), "-o", str(car), "--index", "partitioned"], check=True)
    return car


def updated(work, kind, chosen, ids, lines):
    """The arguments after `vecar` (less the base and -o) of an update: `rm` of the ids of the
    rows `chosen`, or `add` of those rows again with the vectors of the rows 7 after them."""
    if kind == "rm":
        (work / "ids.txt").write_text("".join(f"{ids[row]}\n" for row in chosen))
        return ["rm", "--ids-from", str(work / "ids.txt")]
    with open(work / "replace.jsonl", "w") as f:
        for row in chosen:
            doc = json.loads(lines[row])
            doc["vector"] = json.loads(lines[(row + 7) % len(lines)])["vector"]
            f.write(json.dumps(doc) + "\n")
    return ["add", str(work / "replace.jsonl")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the vecar binary to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the set and the base archive here, and reuse them")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--cases", default="", help="only the updates whose name has this")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vecar-rm-"))
    work.mkdir(parents=True, exist_ok=True)
    jsonl, ids = the_set(work)
    rows = range(len(ids))
    cases = {
        "rm 1,000: every 50th row": ("rm", rows[49::50]),
        "rm 1,000: the last rows": ("rm", rows[-1000:]),
        "rm 100: the last rows": ("rm", rows[-100:]),
        "rm 10: the last rows": ("rm", rows[-10:]),
        "rm 10: every 5,000th row": ("rm", rows[4999::5000]),
        "replace 1,000: every 50th row": ("replace", rows[49::50]),
        "replace 10: every 5,000th row": ("replace", rows[4999::5000]),
    }
    cases = {name: case for name, case in cases.items() if args.cases in name}
    binaries = {"before": args.before, "after": VECAR}
    bases = {name: the_base(vecar, jsonl, work / f"base-{name}.car") for name, vecar in binaries.items()}
    rows = []
    lines = open(jsonl).read().splitlines() if any(kind == "replace" for kind, _ in cases.values()) else []
    for case, (kind, chosen) in cases.items():
        command = updated(work, kind, chosen, ids, lines)
        times = {name: [] for name in binaries}
        for _ in range(args.runs):
            for name, vecar in binaries.items():
                out = work / f"{name}.car"
                times[name].append(timed(vecar, [command[0], str(bases[name]), *command[1:], "-o", str(out)]))
        for name in binaries:
            out = work / f"{name}.car"
            subprocess.run([str(VECAR), "-q", "verify", str(out)], check=True, capture_output=True)
            shares = reuse(bases[name], out)
            # "wrote X: 1000 removed, 49000 records, index rebuilt; 6,278 blocks, ...": "rebuilt"
            made = times[name][-1][2].split(" records, index ")[-1].split(";")[0].split(",")[0]
            wall, cpu = median(t[0] for t in times[name]), median(t[1] for t in times[name])
            cells = " | ".join(f"{shares[role]:.1%}" if role in shares else "-" for role in ("all", *ROLES))
            rows.append(f"| {case} | {name} | {wall:.2f} | {cpu:.2f} | {made} | {cells} |")
    table = "\n".join([
        f"updates of {len(ids)} x 384 rows (dev50k, --index partitioned), "
        f"median of {args.runs} runs, before and after alternated\n",
        "| update | vecar | median s | CPU s (user+sys) | index | reuse: all bytes | partitions | codes | row lists | centroids | records | vectors |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ])
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
