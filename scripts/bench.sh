#!/usr/bin/env bash
# Segment/persona benchmark next to DuckDB (docs/benchmarks.md). Release build; DuckDB and
# deltalake in .venv. Arguments go to the bench: --customers N (default 1000000) --runs N.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r benches/requirements.txt
export TAGFUSION_PYTHON="$PWD/.venv/bin/python"
# A binary behind a feature, not an example: examples build the dev-dependencies too, which
# changes dependency features and rebuilds DataFusion in release a second time.
cargo run --release --features bench --bin tagfusion-bench -- "$@"
