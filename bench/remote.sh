#!/usr/bin/env bash
# Remote queries (bench/remote.py): bytes, requests, round trips and wall time of cold and warm
# queries on a 50,000-record archive served as a trustless gateway and by HTTP ranges, with 0 and
# 20 ms of added latency; and `vecar pull` of the whole archive (as one CAR, and block by block)
# and a remote `vecar ls`: bytes, requests and wall time. Uses the tests' pinned Python
# (tests/py/install.sh: numpy) and builds vecar. Arguments go to remote.py.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/py/install.sh
cargo build --release --quiet
exec tests/py/.venv/bin/python bench/remote.py "$@"
