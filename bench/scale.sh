#!/usr/bin/env bash
# A run at scale (bench/scale.py): N synthetic rows (10M by default) streamed into `vecar build -`,
# then size, build time and memory, recall, a local query and a cold query through a gateway.
# Makes bench/.venv as bench/perf.sh does, builds vecar. Arguments go to scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/scale.py "$@"
