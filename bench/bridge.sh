#!/usr/bin/env bash
# The bridges on the shared dev set (bench/bridge.py): records per second each way. Uses the
# tests' pinned Python (tests/py/install.sh: faiss-cpu) and builds vecar. Arguments go to bridge.py.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/py/install.sh
cargo build --release --quiet
exec tests/py/.venv/bin/python bench/bridge.py "$@"
