#!/usr/bin/env bash
# vecar against FAISS, usearch and hnswlib (bench/perf.py): makes bench/.venv with the pinned
# baselines from PyPI on first use, builds vecar, runs the comparison. Arguments go to perf.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet -r bench/requirements.txt
fi
cargo build --release --quiet
cd bench && exec .venv/bin/python perf.py "$@"
