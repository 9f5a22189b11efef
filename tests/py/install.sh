#!/usr/bin/env bash
# Creates tests/py/.venv and installs tests/py/requirements.txt into it (from PyPI). Tests run
# Python as tests/py/.venv/bin/python. Does nothing when the venv already holds exactly those
# requirements.
set -euo pipefail
cd "$(dirname "$0")"
stamp=.venv/requirements.installed
if [ -f "$stamp" ] && cmp -s requirements.txt "$stamp"; then
    exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
cp requirements.txt "$stamp"
