"""Bridge throughput on the dev set (10,000 x 384): `vecar export --to qdrant|elasticsearch` and
`vecar import qdrant|elasticsearch` against the in-test servers of tests/stores/, records/s each
way, median of --runs runs (a fresh server each run). The servers are Python (Qdrant's is
qdrant-client's local mode behind its pydantic models), so the numbers measure vecar plus those
servers on one machine, not a real Qdrant or Elasticsearch. Run by bench/stores.sh.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECAR = os.path.join(ROOT, "target/release/vecar")
PYTHON = os.path.join(ROOT, "tests/py/.venv/bin/python")


def server(script):
    child = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests/stores", script)], stdout=subprocess.PIPE, text=True)
    port = int(child.stdout.readline().split()[-1])
    return child, f"http://127.0.0.1:{port}"


def timed(args):
    """Wall-clock seconds of `vecar ARGS`, and the CPU seconds vecar itself used."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run([VECAR, "-q", *args], check=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", default=os.path.join(ROOT, "../shared/data/docs.jsonl.gz"))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = os.path.join(tmp, "docs.jsonl")
        with open(docs, "wb") as out:
            subprocess.run(["gzip", "-dc", options.docs], stdout=out, check=True)
        car = os.path.join(tmp, "docs.car")
        subprocess.run([VECAR, "-q", "build", docs, "-o", car], check=True)
        count = sum(1 for line in open(docs) if line.strip())
        times = {}
        for run in range(options.runs):
            for store, script, flag in (("qdrant", "qdrant_server.py", "--collection"), ("elasticsearch", "es_server.py", "--index")):
                child, url = server(script)
                try:
                    out = os.path.join(tmp, f"{store}.car")
                    export = timed(["export", car, "--to", store, "--url", url, flag, "docs"])
                    imp = timed(["import", store, "--url", url, flag, "docs", "-o", out])
                finally:
                    child.kill()
                    child.wait()
                times.setdefault((store, "export"), []).append(export)
                times.setdefault((store, "import"), []).append(imp)
                print(f"run {run + 1} {store}: export {export[0]:.2f} s, import {imp[0]:.2f} s", file=sys.stderr)
        print("| bridge | median s | records/s | runs (s) | vecar CPU s (median) |")
        print("| --- | ---: | ---: | --- | ---: |")
        for (store, way), runs in times.items():
            median = statistics.median(wall for wall, _ in runs)
            cpu = statistics.median(cpu for _, cpu in runs)
            shown = ", ".join(f"{wall:.2f}" for wall, _ in runs)
            print(f"| {way} {store} | {median:.2f} | {count / median:,.0f} | {shown} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
