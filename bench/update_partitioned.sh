#!/usr/bin/env bash
# rm on a partitioned archive, this checkout's vecar against another (bench/update_partitioned.py):
# time, CPU and block reuse by role. Makes bench/.venv as bench/perf.sh does (for its dev50k set),
# builds vecar. Arguments go to update_partitioned.py (--before PATH is required).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
cd bench && exec .venv/bin/python update_partitioned.py "$@"
