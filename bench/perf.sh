#!/usr/bin/env bash
# vecar against FAISS, usearch and hnswlib (bench/perf.py): makes bench/.venv with the pinned
# baselines from PyPI on first use, builds vecar, runs the comparison. Arguments go to perf.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
cd bench && exec .venv/bin/python perf.py "$@"
