#!/usr/bin/env bash
# Builds vecar and benchmarks it on the shared dev set (../shared/data); see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
python3 bench/run.py "$@"
