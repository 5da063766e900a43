#!/usr/bin/env bash
# Flight SQL load test (docs/benchmarks.md): release build, the 1M-customer bench warehouse
# (built by scripts/bench.sh if missing), `tagfusion serve` on loopback, then N clients.
# Arguments go to the load generator: --clients N (default 32) --seconds N (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
WH=target/bench/segments-1000000
if [ ! -d "$WH" ]; then
  bash scripts/bench.sh --customers 1000000 --runs 1
fi
cargo build --release --features bench --bin tagfusion --bin tagfusion-load
target/release/tagfusion --warehouse "$WH" serve --addr 127.0.0.1:50151 2> target/server_load.log &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening target/server_load.log && break; sleep 0.2; done
target/release/tagfusion-load --addr 127.0.0.1:50151 "$@"
echo "server peak RSS: $(grep VmHWM /proc/$SERVER/status)"
