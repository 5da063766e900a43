"""Behaviour aggregates and fused scans, measured on the demo's Parquet files.

Usage:
    .venv/bin/python benches/aggregates_bench.py --tagfusion PATH --customers N
        [--runs R] [--workdir DIR] [--part behaviour|fusion|all]

The demo warehouse is the one benches/refresh_bench.py makes (generated once into
<workdir>/customers-N and reused). Every timed query groups the whole `orders` (or
`app_events`) table by customer and writes the answer, one row per customer, to a Parquet file
with COPY: the results are consumed, so no aggregate can be dropped by an optimizer. Each query
is its own process (`tagfusion run`, or DuckDB through benches/run_duckdb_script.py with 2
threads) timed from outside, with peak RSS from /usr/bin/time; process start is in every figure
on both sides (about 0.1 s).

behaviour  each TagFusion aggregate next to DuckDB's nearest equivalent: unique_count /
           count(DISTINCT), most_frequent / mode, top_n / approx_top_k, unique_list /
           list(DISTINCT), window_funnel / the funnel written in SQL, retention / bool_or,
           bitmap_agg / list(DISTINCT). Where DuckDB's built-in breaks ties differently (mode,
           approx_top_k) an exact DuckDB form (count per value, then first by count and value) is
           timed too, and that is the one whose answer must equal TagFusion's.
fusion     TagFusion only: for each kind of aggregate a statistic tag uses, the same columns as
           one fused GROUP BY (base aggregates + the kind) and as two scans joined on the key
           (base, and the kind alone), which is what a refresh without fusion runs. The choice in
           src/compiler/fusion.rs (fuse every kind) rests on this table.

After the runs DuckDB computes a checksum of every output file (per column: non-NULL count and
a sum of hashes of key and value; lists sorted first where the order is not part of the answer)
and the bench exits with status 1 when two answers that must agree do not.
"""

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

import refresh_bench as rb

AS_OF = rb.AS_OF
WINDOW_30D = f"ts > TIMESTAMP '{AS_OF}' - INTERVAL '30 days'"
FUNNEL_EVENTS = "event IN ('search', 'view', 'add_cart')"


@dataclass
class Query:
    """One timed query: `sql` selects (customer_id, v …) and is written to Parquet."""

    label: str
    engine: str  # "tagfusion" or "duckdb"
    sql: str
    runs: list = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    def peak_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)


@dataclass
class Case:
    """Queries whose answers are compared: `same` must agree with the first query exactly;
    `normalize` maps a column's checksum SQL (e.g. sorting a list whose order is arbitrary)."""

    name: str
    queries: list
    same: list
    normalize: str = ""


def duck_table(demo: Path, table: str) -> str:
    return f"read_parquet('{demo}/{table}/*.parquet')"


def behaviour_cases(demo: Path) -> list:
    orders = duck_table(demo, "orders")
    events = duck_table(demo, "app_events")

    def tf(sql):
        return Query("TagFusion", "tagfusion", sql)

    def dk(label, sql):
        return Query(label, "duckdb", sql)

    def exact_ranked(table, column, n):
        # most_frequent / top_n with TagFusion's tie rule (smaller value first).
        pick = "first(value ORDER BY c DESC, value)" if n == 1 else (
            f"list(value ORDER BY c DESC, value)[1:{n}]")
        return (f"SELECT customer_id, {pick} AS v FROM (SELECT customer_id, {column} AS value, "
                f"count(*) AS c FROM {table} GROUP BY ALL) GROUP BY customer_id")

    funnel_sql = f"""
        WITH steps AS (
            SELECT customer_id, ts,
                   CASE event WHEN 'search' THEN 1 WHEN 'view' THEN 2 ELSE 3 END AS step
            FROM {events} WHERE {FUNNEL_EVENTS}),
        searches AS (
            SELECT *, max(CASE WHEN step = 1 THEN ts END) OVER (
                PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS search_start
            FROM steps),
        views AS (
            SELECT *, CASE WHEN step = 2 AND ts <= search_start + INTERVAL 86400 SECOND
                           THEN search_start END AS view_chain_start
            FROM searches),
        chains AS (
            SELECT *, max(view_chain_start) OVER (
                PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS view_start
            FROM views)
        SELECT customer_id,
               max(CASE WHEN step = 3 AND ts <= view_start + INTERVAL 86400 SECOND THEN 3
                        WHEN view_chain_start IS NOT NULL THEN 2
                        WHEN step = 1 THEN 1 ELSE 0 END) AS v
        FROM chains GROUP BY customer_id"""

    return [
        Case("count(*) (the grouping alone)", [
            tf("SELECT customer_id, count(*) AS v FROM orders GROUP BY customer_id"),
            dk("DuckDB count(*)", f"SELECT customer_id, count(*) AS v FROM {orders} GROUP BY customer_id"),
        ], same=["DuckDB count(*)"]),
        Case("unique_count(category)", [
            tf("SELECT customer_id, unique_count(category) AS v FROM orders GROUP BY customer_id"),
            dk("DuckDB count(DISTINCT)",
               f"SELECT customer_id, count(DISTINCT category) AS v FROM {orders} GROUP BY customer_id"),
        ], same=["DuckDB count(DISTINCT)"]),
        Case("most_frequent(category)", [
            tf("SELECT customer_id, most_frequent(category) AS v FROM orders GROUP BY customer_id"),
            dk("DuckDB mode", f"SELECT customer_id, mode(category) AS v FROM {orders} GROUP BY customer_id"),
            dk("DuckDB exact (count, first)", exact_ranked(orders, "category", 1)),
        ], same=["DuckDB exact (count, first)"]),
        Case("top_n(category, 3)", [
            tf("SELECT customer_id, top_n(category, 3) AS v FROM orders GROUP BY customer_id"),
            dk("DuckDB approx_top_k",
               f"SELECT customer_id, approx_top_k(category, 3) AS v FROM {orders} GROUP BY customer_id"),
            dk("DuckDB exact (count, list)", exact_ranked(orders, "category", 3)),
        ], same=["DuckDB exact (count, list)"]),
        Case("unique_list(category)", [
            tf("SELECT customer_id, unique_list(category) AS v FROM orders GROUP BY customer_id"),
            dk("DuckDB list(DISTINCT)",
               f"SELECT customer_id, list(DISTINCT category) AS v FROM {orders} GROUP BY customer_id"),
        ], same=["DuckDB list(DISTINCT)"], normalize="list_sort"),
        Case("window_funnel(86400, ts, search, view, add_cart)", [
            tf("SELECT customer_id, window_funnel(86400, ts, event = 'search', event = 'view', "
               f"event = 'add_cart') AS v FROM app_events WHERE {FUNNEL_EVENTS} GROUP BY customer_id"),
            dk("DuckDB funnel in SQL", funnel_sql),
        ], same=["DuckDB funnel in SQL"]),
        Case("retention(search, view, add_cart)", [
            tf("SELECT customer_id, retention(event = 'search', event = 'view', event = 'add_cart') "
               "AS v FROM app_events GROUP BY customer_id"),
            dk("DuckDB bool_or",
               "SELECT customer_id, [CAST(s AS UTINYINT), CAST(s AND w AS UTINYINT), "
               "CAST(s AND a AS UTINYINT)] AS v FROM (SELECT customer_id, "
               "bool_or(event = 'search') AS s, bool_or(event = 'view') AS w, "
               f"bool_or(event = 'add_cart') AS a FROM {events} GROUP BY customer_id)"),
        ], same=["DuckDB bool_or"]),
        Case("bitmap_agg(order_id), counted", [
            tf("SELECT customer_id, bitmap_count(bitmap_agg(order_id)) AS v FROM orders "
               "GROUP BY customer_id"),
            dk("DuckDB list(DISTINCT), counted",
               f"SELECT customer_id, len(list(DISTINCT order_id)) AS v FROM {orders} "
               "GROUP BY customer_id"),
        ], same=["DuckDB list(DISTINCT), counted"]),
    ]


FUSION_BASE = "count(*) AS n, sum(amount) AS s, max(ts) AS last_at"
FUSION_KINDS = [
    ("30-day window (FILTER)", f"sum(amount) FILTER (WHERE {WINDOW_30D})"),
    ("avg of a CASE", "avg(CASE WHEN discount > 0 THEN 1.0 ELSE 0.0 END)"),
    ("min(ts)", "min(ts)"),
    ("unique_count", "unique_count(category)"),
    ("unique_count, windowed", f"unique_count(category) FILTER (WHERE {WINDOW_30D})"),
    ("most_frequent", "most_frequent(category)"),
    ("top_n", "top_n(category, 3)"),
    ("unique_list", "unique_list(channel)"),
]


def fusion_cases() -> list:
    base = f"SELECT customer_id, {FUSION_BASE} FROM orders GROUP BY customer_id"
    cases = [Case("base alone", [Query("base alone", "tagfusion", base)], same=[])]
    for name, kind in FUSION_KINDS:
        fused = f"SELECT customer_id, {FUSION_BASE}, {kind} AS k FROM orders GROUP BY customer_id"
        separate = (
            f"SELECT b.customer_id, b.n, b.s, b.last_at, x.k FROM ({base}) AS b "
            f"LEFT JOIN (SELECT customer_id, {kind} AS k FROM orders GROUP BY customer_id) AS x "
            "ON b.customer_id = x.customer_id"
        )
        cases.append(Case(name, [Query("fused", "tagfusion", fused),
                                 Query("separate", "tagfusion", separate)], same=["separate"]))
    return cases


def command(args, warehouse: Path, query: Query, out: Path, script: Path) -> list:
    if query.engine == "tagfusion":
        script.write_text(
            f"SET tagfusion.as_of = '{AS_OF}';\n"
            f"COPY ({query.sql}) TO '{out}' STORED AS PARQUET;\n", encoding="utf-8")
        return [args.tagfusion, "--warehouse", warehouse, "run", script]
    script.write_text(f"COPY ({query.sql}) TO '{out}' (FORMAT parquet);\n", encoding="utf-8")
    return [sys.executable, rb.DUCKDB_RUNNER, script, "--threads", str(rb.DUCKDB_THREADS)]


def normalized(relation: str, how: str) -> str:
    if not how:
        return relation
    return f"(SELECT customer_id, {how}(v) AS v FROM {relation})"


def run_cases(args, warehouse: Path, base: Path, part: str, cases: list) -> bool:
    """Times every query of `cases`; prints the table; returns whether every answer agreed."""
    cases = [c for c in cases if args.only in c.name]
    folder = base / f"aggregates-{part}"
    folder.mkdir(exist_ok=True)
    files = {}
    for c, case in enumerate(cases):
        for q, query in enumerate(case.queries):
            out = folder / f"{c}-{q}.parquet"
            files[(c, q)] = out
            for run in range(1, args.runs + 1):
                out.unlink(missing_ok=True)
                log = folder / f"{c}-{q}-{run}.log"
                cmd = command(args, warehouse, query, out, folder / f"{c}-{q}.sql")
                m = rb.measure(cmd, log)
                query.runs.append(m)
                print(f"run {run}: {case.name:<42} {query.label:<32} "
                      f"{m.seconds:7.2f} s {m.peak_rss_mb:8.1f} MB", flush=True)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    agreed = True
    print(f"\n{part}: median of {args.runs} run(s); ratio = this query / the first of its case")
    print(f"{'case':<44} {'query':<32} {'median s':>9} {'peak MB':>9} {'ratio':>6}  answer")
    for c, case in enumerate(cases):
        first = case.queries[0]
        sums = {}
        for q, query in enumerate(case.queries):
            relation = normalized(rb.parquet_relation(files[(c, q)]), case.normalize)
            sums[q] = rb.checksum(con, relation, {"v": "v", "k": "k", "n": "n", "s": "s",
                                                   "last_at": "last_at"})
        for q, query in enumerate(case.queries):
            if q == 0:
                answer = rb.overall(sums[0])
            elif query.label in case.same:
                ok = sums[q] == sums[0]
                agreed &= ok
                answer = "same" if ok else "DIFFERS"
            else:
                answer = f"{sums[q]['v'][0]} values (ties broken its own way)"
            ratio = query.median() / first.median()
            print(f"{case.name if q == 0 else '':<44} {query.label:<32} {query.median():>9.2f} "
                  f"{query.peak_mb():>9.1f} {ratio:>6.2f}  {answer}")
    return agreed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tagfusion", required=True, type=Path)
    parser.add_argument("--customers", required=True, type=int)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=rb.REPO / "target" / "refresh-bench")
    parser.add_argument("--part", choices=["behaviour", "fusion", "all"], default="all")
    parser.add_argument("--only", default="", help="run only the cases whose name has this")
    args = parser.parse_args()
    args.tagfusion = args.tagfusion.resolve()
    base = args.workdir.resolve() / f"customers-{args.customers}"
    warehouse = rb.prepare_warehouse(args.tagfusion, args.customers, base)
    rows = rb.table_rows(warehouse / "demo")
    print("data: " + ", ".join(f"{n} {t}" for t, n in rows.items())
          + f"; DuckDB {duckdb.__version__}, {rb.DUCKDB_THREADS} threads")
    agreed = True
    if args.part in ("behaviour", "all"):
        agreed &= run_cases(args, warehouse, base, "behaviour", behaviour_cases(warehouse / "demo"))
    if args.part in ("fusion", "all"):
        agreed &= run_cases(args, warehouse, base, "fusion", fusion_cases())
    if not agreed:
        sys.exit("some answers that must agree differ (DIFFERS above)")
    print("\nevery answer that must agree does (checksums equal)")


if __name__ == "__main__":
    main()
