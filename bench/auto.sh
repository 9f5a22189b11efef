#!/usr/bin/env bash
# Which index `vecar build` makes by default (bench/auto.py): HNSW on one thread and on every
# core against the partitioned index on real vectors at 2,000, 10,000 and 50,000 rows: build
# time, distinct roots, recall@10, one cold query, 500 queries in one process. Makes bench/.venv
# as bench/perf.sh does, builds vecar. Arguments go to auto.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/auto.py "$@"  # from the repository's root, so --out and --keep paths are the caller's
