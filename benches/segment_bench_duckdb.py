"""DuckDB side of benches/segment_bench.rs: the same questions over the same Parquet files
(the files of the customer profile's Delta table, read through the deltalake package's file
list), 2 threads, warm, median of N runs. Prints JSON."""
import json
import statistics
import sys
import time

import duckdb
from deltalake import DeltaTable

table, at, runs, keys, orders = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(","), sys.argv[5]
files = [u.replace("file://", "") for u in DeltaTable(table).file_uris()]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f"CREATE VIEW history AS SELECT * FROM read_parquet({files!r})")
con.execute(f"CREATE VIEW profile AS SELECT * FROM history WHERE snapshot_at = TIMESTAMPTZ '{at}+00'")
con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{orders}/*.parquet')")
HIGH_VALUE = "rfm_class IN ('重要价值客户', '重要保持客户')"

def timed(sql_for):
    out = []
    for i in range(runs + 1):
        start = time.perf_counter()
        rows = con.execute(sql_for(i)).fetchall()
        assert rows, sql_for(i)
        if i > 0:
            out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out)

count_sql = f"SELECT count(*) FROM profile WHERE {HIGH_VALUE}"
profile_sql = f"""
WITH b AS (SELECT age_band, city_tier, coalesce({HIGH_VALUE}, false) AS m FROM profile),
     n AS (SELECT count(*) AS pop, count(*) FILTER (WHERE m) AS seg FROM b),
     d AS (SELECT 'age_band' AS tag, CAST(age_band AS VARCHAR) AS value, count(*) FILTER (WHERE m) AS s, count(*) AS p FROM b GROUP BY 2
           UNION ALL
           SELECT 'city_tier', CAST(city_tier AS VARCHAR), count(*) FILTER (WHERE m), count(*) FROM b GROUP BY 2)
SELECT tag, value, s, s / seg AS segment_share, p, p / pop AS population_share, (s / seg) / (p / pop) * 100 AS tgi
FROM d, n ORDER BY tag, p DESC
"""
# Every result used (see AGGREGATES_SQL in segment_bench.rs); the row is the checksum.
aggregates_sql = """SELECT count(*) AS customers, sum(n) AS orders, round(sum(s), 2) AS amount,
  sum(u) AS distinct_categories, count(f) AS with_mode
  FROM (SELECT customer_id, count(*) AS n, sum(amount) AS s, count(DISTINCT category) AS u,
  mode(channel) AS f FROM orders GROUP BY customer_id)"""
overlap_sql = f"SELECT count(*) FROM profile WHERE {HIGH_VALUE} AND coupon_order_share >= 0.5"
result = {
    "version": duckdb.__version__,
    "count": timed(lambda i: count_sql),
    "profile": timed(lambda i: profile_sql),
    "persona": timed(lambda i: f"SELECT * FROM profile WHERE customer_id = '{keys[i]}'"),
    "lookup": timed(lambda i: f"SELECT * FROM profile WHERE customer_id = '{keys[i]}'"),
    "aggregates": timed(lambda i: aggregates_sql),
    "overlap": timed(lambda i: overlap_sql),
    "count_rows": con.execute(count_sql).fetchone()[0],
    "overlap_rows": con.execute(overlap_sql).fetchone()[0],
    "aggregates_checksum": [str(v) for v in con.execute(aggregates_sql).fetchone()],
}
print(json.dumps(result))
