#!/usr/bin/env bash
# Embedding throughput on the dev set's 10,000 texts: vecar's local provider (bench/embed.rs, run
# as `cargo run --release --example embed`) against Python sentence-transformers on the same
# model directory, 3 runs each, alternating, then the median texts/s of each. Makes
# bench/.venv-embed with sentence-transformers (and torch) from PyPI on first use, and fetches
# the model with tests/model/fetch.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
tests/model/fetch.sh
model=tests/model/all-MiniLM-L6-v2
if [ ! -x bench/.venv-embed/bin/python ]; then
    python3 -m venv bench/.venv-embed
    bench/.venv-embed/bin/pip install --quiet sentence-transformers
fi
cargo build --release --quiet --example embed
docs=$(mktemp)
out=$(mktemp)
trap 'rm -f "$docs" "$out"' EXIT
gzip -dc ../shared/data/docs.jsonl.gz > "$docs"
for run in $(seq "$runs"); do
    target/release/examples/embed "$model" "$docs" | tee -a "$out"
    bench/.venv-embed/bin/python bench/embed.py "$model" "$docs" | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["impl"], []).append(r)
for name, rs in runs.items():
    rates = [r["texts_per_s"] for r in rs]
    worst = min(r["worst_cosine"] for r in rs)
    print(f"{name}: median {statistics.median(rates):.1f} texts/s over {len(rs)} runs "
          f"({', '.join(f'{x:.1f}' for x in rates)}); worst cosine {worst:.12f}")
PY
