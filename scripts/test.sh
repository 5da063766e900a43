#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, the sqllogictest files, and the checks that
# read the warehouse back with the deltalake Python package (installed here into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export TAGFUSION_PYTHON="$PWD/.venv/bin/python"

cargo test --workspace --locked "$@"
