#!/usr/bin/env bash
# Builds vecar and benchmarks it on the shared dev set (../shared/data); see README.md, Benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
python3 bench/run.py "$@"
