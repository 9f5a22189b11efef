#!/usr/bin/env bash
# The partitioned index against HNSW (bench/partitioned.py): build time and RSS, same root at any
# thread count, the nprobe/recall/speed curve, 10,000-query throughput, cold queries locally and
# through a gateway with 20 ms per request. Makes bench/.venv as bench/perf.sh does (its sets are
# reused), builds vecar. Arguments go to partitioned.py (--scale 1000000 for the 1M set).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/partitioned.py "$@"  # from the repository's root, so --out and --keep paths are the caller's
