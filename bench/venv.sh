# Sourced by the bench scripts from the repository's root: makes bench/.venv with the pinned
# baselines of bench/requirements.txt from PyPI on first use, and builds vecar.
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet -r bench/requirements.txt
fi
cargo build --release --quiet
