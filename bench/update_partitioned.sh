#!/usr/bin/env bash
# rm on a partitioned archive, this checkout's vecar against another (bench/update_partitioned.py):
# time, CPU and block reuse by role. Makes bench/.venv as bench/perf.sh does (for its dev50k set),
# builds vecar. Arguments go to update_partitioned.py (--before PATH is required).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/venv.sh
exec bench/.venv/bin/python bench/update_partitioned.py "$@"  # from the repository's root, so --out and --keep paths are the caller's
