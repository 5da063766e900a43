#!/usr/bin/env bash
# Identity resolution at scale (docs/benchmarks.md): PEOPLE people (default 3,000,000) give
# ~10 million identifiers from three sources — members (member_id, phone), app logins
# (device_id, phone; one device in five also used by a second person) and e-mails
# (email, member_id). Release build; peak memory from /usr/bin/time; DuckDB (in .venv) runs the
# same algorithm on the same Parquet files for the ratio.
#   bash scripts/identity_bench.sh [PEOPLE]
set -euo pipefail
cd "$(dirname "$0")/.."
people=${1:-3000000}
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r benches/requirements.txt
cargo build --release --bin tagfusion
bin="$PWD/target/release/tagfusion"
dir="$PWD/target/bench/identity-$people"
rm -rf "$dir"
mkdir -p "$dir"
wh="$dir/wh"
devices=$((people * 5 / 6))
emails=$((people / 2))

echo "generating sources for $people people in $dir …"
"$bin" --warehouse "$wh" run \
  -c "COPY (SELECT 'M' || CAST(value AS VARCHAR) AS member_id,
               CAST(13000000000 + value AS VARCHAR) AS phone
          FROM generate_series(1, $people)) TO '$dir/members/part-0.parquet' STORED AS PARQUET" \
  -c "COPY (SELECT 'D' || CAST(value AS VARCHAR) AS device_id,
               CAST(13000000001 + ab_group(CAST(value AS VARCHAR), 'owner', $people) AS VARCHAR) AS phone
          FROM generate_series(1, $devices)
        UNION ALL
        SELECT 'D' || CAST(value AS VARCHAR),
               CAST(13000000001 + ab_group(CAST(value AS VARCHAR), 'second', $people) AS VARCHAR)
          FROM generate_series(1, $devices) WHERE ab_group(CAST(value AS VARCHAR), 'shared', 5) = 0)
        TO '$dir/logins/part-0.parquet' STORED AS PARQUET" \
  -c "COPY (SELECT 'E' || CAST(value AS VARCHAR) || '@Mail.com' AS email,
               'M' || CAST(1 + ab_group(CAST(value AS VARCHAR), 'email', $people) AS VARCHAR) AS member_id
          FROM generate_series(1, $emails)) TO '$dir/emails/part-0.parquet' STORED AS PARQUET" >/dev/null
"$bin" --warehouse "$wh" run \
  -c "CREATE EXTERNAL TABLE members STORED AS PARQUET LOCATION '$dir/members/'" \
  -c "CREATE EXTERNAL TABLE logins STORED AS PARQUET LOCATION '$dir/logins/'" \
  -c "CREATE EXTERNAL TABLE emails STORED AS PARQUET LOCATION '$dir/emails/'" \
  -c "CREATE IDENTITY GRAPH bench FROM (SELECT member_id, phone FROM members),
        (SELECT device_id, phone FROM logins), (SELECT email, member_id FROM emails)" \
  -c "CREATE IDENTITY GRAPH guarded MAX GROUP SIZE 50 MAX PER GROUP (member_id 3)
        FROM (SELECT member_id, phone FROM members),
        (SELECT device_id, phone FROM logins), (SELECT email, member_id FROM emails)" >/dev/null

measure() {
  local label=$1; shift
  /usr/bin/time -v "$bin" --warehouse "$wh" --format csv run "$@" > "$dir/out.csv" 2> "$dir/time.txt"
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$dir/time.txt" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$dir/time.txt" | awk '{print $NF}')
  echo "$label: wall $wall, peak RSS $((rss / 1024)) MiB"
  sed -n 2p "$dir/out.csv" | sed 's/^/  graph,identifiers,groups,largest,new,merges,splits,rejected,seconds: /'
}
measure "refresh (first, no guards)" -c "REFRESH IDENTITY GRAPH bench"
measure "refresh again (stable ids against the previous mapping)" -c "REFRESH IDENTITY GRAPH bench"
measure "refresh with guards (MAX GROUP SIZE 50, MAX PER GROUP member_id 3)" -c "REFRESH IDENTITY GRAPH guarded"
.venv/bin/python benches/identity_duckdb.py "$dir"
