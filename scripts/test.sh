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

# A real headless browser for the HTML report test (Debian's chromium).
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export TAGFUSION_CHROMIUM="$(command -v chromium)"

# What a contributor relies on: formatted code and no clippy warnings.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo test --workspace --locked "$@"
