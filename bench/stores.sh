#!/usr/bin/env bash
# Qdrant and Elasticsearch bridge throughput on the dev set against the in-test servers
# (tests/stores/), median of 3 runs (RUNS=N for more); see bench/stores.py.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/py/install.sh
cargo build --release --quiet
tests/py/.venv/bin/python bench/stores.py --runs "${RUNS:-3}"
