#!/usr/bin/env bash
# Batch throughput (bench/throughput.py): 10,000 queries answered by one `vecar query` process
# against FAISS's in-memory HNSW search of the same queries on 2 threads, on the dev and dev50k
# sets; the fixed cost, vecar's speed/recall knobs, and (with `perf`) where vecar's CPU goes.
# Makes bench/.venv as bench/perf.sh does, builds vecar. Arguments go to throughput.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/throughput.py "$@"  # from the repository's root, so --out and --keep paths are the caller's
