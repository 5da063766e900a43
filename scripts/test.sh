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

# The tests are built with clippy's driver in place of rustc for the workspace's own crates (what
# `cargo clippy` does, but with a full build instead of a check): every test target is linted with
# `-D warnings` and the dependencies are compiled once for both, not once more in check mode
# (about 9 minutes on 2 cores; docs/benchmarks.md, "Build"). `CLIPPY_ARGS` is how cargo-clippy
# hands its arguments to the driver.
if ! command -v clippy-driver >/dev/null 2>&1; then
  echo "error: clippy-driver not found; install it with: rustup component add clippy" >&2
  exit 1
fi
export RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --locked "$@"
