#!/usr/bin/env bash
# vecar against FAISS, usearch and hnswlib (bench/perf.py): makes bench/.venv with the pinned
# baselines from PyPI on first use, builds vecar, runs the comparison. Arguments go to perf.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/perf.py "$@"  # from the repository's root, so --out and --keep paths are the caller's
