#!/usr/bin/env bash
# Benchmarks next to DuckDB (docs/benchmarks.md). Release build; DuckDB and deltalake in .venv.
#
#   bash scripts/bench.sh [--customers N] [--runs N]
#       segment/persona bench (default 1000000 customers)
#   bash scripts/bench.sh refresh --customers N [--runs R] [--workdir DIR]
#       full REFRESH of the retail template against the same tags in DuckDB SQL
#       (benches/refresh_bench.py; warehouses go to target/refresh-bench unless --workdir)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r benches/requirements.txt
export TAGFUSION_PYTHON="$PWD/.venv/bin/python"
if [ "${1:-}" = "refresh" ]; then
  shift
  if [ ! -x /usr/bin/time ]; then
    # GNU time measures each side's peak RSS.
    apt-get update -qq && apt-get install -y -qq time
  fi
  cargo build --release --locked
  exec .venv/bin/python benches/refresh_bench.py --tagfusion target/release/tagfusion "$@"
fi
# A binary behind a feature, not an example: examples build the dev-dependencies too, which
# changes dependency features and rebuilds DataFusion in release a second time.
cargo run --release --features bench --bin tagfusion-bench -- "$@"
