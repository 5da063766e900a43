"""Full REFRESH of the retail template: TagFusion next to DuckDB, same Parquet files, same answer.

Usage:
    .venv/bin/python benches/refresh_bench.py --tagfusion PATH --customers N [--runs R] [--workdir DIR]

For N customers the demo warehouse is generated once into the work directory (and reused while
its directory is there) with `tagfusion demo --customers N`; the tag value_cluster (k-means,
which has no SQL equivalent) is then dropped from it. Each run then times, one side after the
other, as separate processes:

  tagfusion   `tagfusion run` of REFRESH ENTITY customer AS OF TIMESTAMP '<as of>': every tag
              and segment computed and committed as a snapshot of the Delta table
              customer/profile_history (tag statistics and catalog commit included)
  duckdb      benches/refresh_duckdb.sql, the same tags and segments written by hand in DuckDB
              SQL, 2 threads, to one Parquet file
  datafusion  TagFusion's own compiled profile query (from EXPLAIN REFRESH) run as plain SQL
              through `tagfusion run`, COPY … TO one Parquet file: the query engine without the
              snapshot's Delta commit. Skipped, with a note, when the binary has no EXPLAIN REFRESH.

Wall time is measured around each process, peak RSS with /usr/bin/time. Afterwards one piece
of DuckDB code computes a checksum of each side's answer: per column, the count of non-NULL
values and the sum of a hash of (customer_id, value as text), floats rounded to 6 decimals,
lists kept in their order. The bench prints a table and the TagFusion/DuckDB ratio, and exits
with status 1 when a side's answer differs from DuckDB's, naming the differing columns with
example customers.
"""

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from deltalake import DeltaTable

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
DUCKDB_SQL = BENCHES / "refresh_duckdb.sql"
DUCKDB_RUNNER = BENCHES / "run_duckdb_script.py"
TIME = Path("/usr/bin/time")

ENTITY = "customer"
KEY = "customer_id"
# The demo data ends here (DATA_END in src/demo/retail.rs); the demo's own refresh is as of it.
AS_OF = "2026-07-01 00:00:00"
# Tags without an SQL equivalent: dropped from the TagFusion side, absent from the DuckDB SQL.
DROPPED_TAGS = ["value_cluster"]
SEGMENT_PREFIX = "segment:"
FLOAT_DECIMALS = 6
DUCKDB_THREADS = 2
SIDES = ["tagfusion", "duckdb", "datafusion"]
SIDE_LABELS = {
    "tagfusion": "TagFusion REFRESH",
    "duckdb": "DuckDB SQL",
    "datafusion": "raw DataFusion",
}


@dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float


@dataclass
class Side:
    """One side of the comparison: its timings and, after the runs, its answer's checksum."""

    name: str
    runs: list = field(default_factory=list)
    skipped: str = ""
    checksum: dict = field(default_factory=dict)

    def min_seconds(self) -> float:
        return min(m.seconds for m in self.runs)

    def median_seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    def peak_rss_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)


@dataclass
class Difference:
    """A column of one side whose checksum differs from DuckDB's.

    problem: "values" (then `count` rows differ, a few in `examples` as (key, DuckDB's value,
    the side's value)), "last place" (the same, but every differing value is off by one unit in
    its last decimal place: floats summed in another order, rounded), "missing" or "extra" (the
    column), or "rows" (row count or keys).
    """

    column: str
    problem: str
    count: int = 0
    examples: list = field(default_factory=list)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Full REFRESH of the retail template: TagFusion next to DuckDB."
    )
    parser.add_argument("--tagfusion", required=True, type=Path, help="the tagfusion binary")
    parser.add_argument("--customers", required=True, type=int, help="demo size")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side (default 1)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO / "target" / "refresh-bench",
        help="where warehouses and outputs go (default target/refresh-bench)",
    )
    args = parser.parse_args()
    if args.customers < 1 or args.runs < 1:
        parser.error("--customers and --runs must be at least 1")
    args.tagfusion = args.tagfusion.resolve()
    if not args.tagfusion.is_file():
        parser.error(f"no tagfusion binary at {args.tagfusion}")
    if not TIME.is_file():
        parser.error(f"{TIME} is missing (it measures peak RSS): apt-get install time")
    args.workdir = args.workdir.resolve()
    return args


# --- running processes ---------------------------------------------------------------------


def run_logged(command: list, log: Path) -> None:
    """Runs a command with its output in `log`; stops the bench if it fails."""
    with open(log, "w", encoding="utf-8") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        fail_with_log(command, log)


def fail_with_log(command: list, log: Path) -> None:
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
    print(f"failed: {' '.join(str(c) for c in command)}", file=sys.stderr)
    print("\n".join(tail), file=sys.stderr)
    sys.exit(2)


def measure(command: list, log: Path) -> Measurement:
    """Runs a command under /usr/bin/time: wall seconds and peak RSS (MB) of the process."""
    rss_file = log.with_suffix(".rss")
    timed = [str(TIME), "-f", "%M", "-o", str(rss_file), *map(str, command)]
    with open(log, "w", encoding="utf-8") as out:
        start = time.perf_counter()
        result = subprocess.run(timed, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        fail_with_log(command, log)
    # The last line is %M, in kilobytes (earlier lines would be a signal or exit note).
    peak_kb = int(rss_file.read_text().split()[-1])
    return Measurement(seconds=seconds, peak_rss_mb=peak_kb / 1024)


# --- the warehouse ---------------------------------------------------------------------------


def prepare_warehouse(tagfusion: Path, customers: int, base: Path) -> Path:
    """The demo warehouse for `customers`, generated once and reused while `base` is there.

    A file READY marks a finished warehouse; without it the directory is made anew.
    """
    warehouse = base / "warehouse"
    ready = base / "READY"
    if ready.exists():
        print(f"reusing the demo warehouse in {warehouse}")
        return warehouse
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    print(f"generating the demo warehouse ({customers} customers) in {warehouse} …")
    tf = [str(tagfusion), "--warehouse", str(warehouse)]
    run_logged([*tf, "demo", "--customers", str(customers)], base / "demo.log")
    drops = [f"DROP TAG {ENTITY}.{tag}" for tag in DROPPED_TAGS]
    run_logged([*tf, "run", *[a for d in drops for a in ("-c", d)]], base / "drop.log")
    ready.write_text(f"customers={customers}\ngenerated by {tagfusion}\n")
    return warehouse


def table_rows(demo: Path) -> dict:
    """Rows of each demo table, from the Parquet footers."""
    con = duckdb.connect()
    rows = {}
    for table in ["customers", "orders", "stores", "app_events"]:
        files = f"{demo}/{table}/*.parquet"
        rows[table] = con.execute(
            f"SELECT sum(num_rows) FROM parquet_file_metadata('{files}')"
        ).fetchone()[0]
    return rows


# --- the three sides ---------------------------------------------------------------------------


def tagfusion_command(tagfusion: Path, warehouse: Path, base: Path) -> list:
    script = base / "refresh.sql"
    script.write_text(f"REFRESH ENTITY {ENTITY} AS OF TIMESTAMP '{AS_OF}';\n")
    return [tagfusion, "--warehouse", warehouse, "run", script]


def duckdb_command(warehouse: Path, out: Path, base: Path) -> list:
    sql = DUCKDB_SQL.read_text(encoding="utf-8")
    sql = sql.replace("{demo}", str(warehouse / "demo"))
    sql = sql.replace("{as_of}", AS_OF).replace("{out}", str(out))
    script = base / "refresh_duckdb.filled.sql"
    script.write_text(sql, encoding="utf-8")
    return [sys.executable, DUCKDB_RUNNER, script, "--threads", str(DUCKDB_THREADS)]


def compiled_profile_sql(tagfusion: Path, warehouse: Path, base: Path) -> tuple:
    """TagFusion's compiled profile query: the `profile sql` row of EXPLAIN REFRESH ENTITY.

    Returns (sql, "") or (None, why not).
    """
    statement = f"EXPLAIN REFRESH ENTITY {ENTITY} AS OF TIMESTAMP '{AS_OF}'"
    command = [str(tagfusion), "--warehouse", str(warehouse), "--format", "json", "run",
               "-c", statement]
    result = subprocess.run(command, capture_output=True, text=True)
    (base / "explain.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        first_line = (result.stderr.strip().splitlines() or ["(no message)"])[0]
        return None, f"EXPLAIN REFRESH failed: {first_line}"
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    for row in rows:
        if row.get("step") == "profile sql":
            return row["plan"], ""
    return None, "EXPLAIN REFRESH returned no 'profile sql' row"


def datafusion_command(tagfusion: Path, warehouse: Path, sql: str, out: Path, base: Path) -> list:
    script = base / "profile_datafusion.sql"
    script.write_text(
        f"SET tagfusion.as_of = '{AS_OF}';\n"
        f"COPY ({sql}) TO '{out}' STORED AS PARQUET;\n",
        encoding="utf-8",
    )
    return [tagfusion, "--warehouse", warehouse, "run", script]


# --- checksums ---------------------------------------------------------------------------------

# A column whose differing rows are all off by one in the last place is accepted when it has at
# most this many of them; more is a real difference whatever the values.
LAST_PLACE_ROWS = 100


def snapshot_relation(warehouse: Path) -> str:
    """TagFusion's answer: the current files of profile_history, rows of the as-of snapshot."""
    table = DeltaTable(str(warehouse / ENTITY / "profile_history"))
    files = [uri.removeprefix("file://") for uri in table.file_uris()]
    return (
        f"(SELECT * EXCLUDE (snapshot_at) FROM read_parquet({files!r}, union_by_name = true) "
        f"WHERE CAST(snapshot_at AS TIMESTAMP) = TIMESTAMP '{AS_OF}')"
    )


def parquet_relation(path: Path) -> str:
    return f"read_parquet('{path}')"


def columns_of(con, relation: str) -> dict:
    """Column name → DuckDB type name, in order."""
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def rename_segments(columns: dict, segments: set) -> dict:
    """Column name → name to compare under: raw DataFusion names segment columns plainly."""
    return {c: (SEGMENT_PREFIX + c if c in segments else c) for c in columns}


def rendered(column: str, type_name: str) -> str:
    """SQL for a value as text, the same for every side whatever type it arrived in.

    Numbers as DOUBLE rounded to FLOAT_DECIMALS (so 3, 3.0 and 3.0000000001 agree), times in
    UTC to the microsecond, lists in their own order, everything else cast to VARCHAR.
    """
    quoted = '"' + column.replace('"', '""') + '"'
    t = type_name.upper()
    numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
               "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
    if t.startswith(numeric) and not t.endswith("]"):
        # + 0.0 turns -0.0 into 0.0.
        return f"CAST(round(CAST({quoted} AS DOUBLE), {FLOAT_DECIMALS}) + 0.0 AS VARCHAR)"
    if t.startswith("TIMESTAMP"):
        return f"strftime(CAST({quoted} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')"
    return f"CAST({quoted} AS VARCHAR)"


def checksum(con, relation: str, names: dict) -> dict:
    """Per compared column: (non-NULL count, sum of hash(key, value as text)); plus the rows.

    `names` maps the relation's columns to the names they are compared under; columns not in
    it are left out.
    """
    types = columns_of(con, relation)
    parts = ["count(*)", f"sum(hash(CAST({KEY} AS VARCHAR)))"]
    compared = [c for c in types if c != KEY and c in names]
    for column in compared:
        value = rendered(column, types[column])
        parts.append(f"count({value})")
        parts.append(
            f"sum(hash(CAST({KEY} AS VARCHAR) || chr(31) || {value})) "
            f"FILTER (WHERE {value} IS NOT NULL)"
        )
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    result = {"(rows)": (row[0], int(row[1] or 0))}
    for i, column in enumerate(compared):
        count, total = row[2 + 2 * i], row[3 + 2 * i]
        result[names[column]] = (count, int(total or 0))
    return result


def overall(checksums: dict) -> str:
    """One short checksum over every column's (name, count, hash sum)."""
    text = json.dumps(sorted((k, list(v)) for k, v in checksums.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(con, reference: tuple, other: tuple) -> list:
    """The Differences of `other` from `reference`, in the reference's column order.

    `reference` and `other` are (relation, names, checksum) of two sides.
    """
    (ref_rel, ref_names, ref_sums), (rel, names, sums) = reference, other
    out = []
    for column in ref_sums:
        if sums.get(column) == ref_sums[column]:
            continue
        if column == "(rows)":
            out.append(Difference(column, "rows"))
        elif column not in sums:
            out.append(Difference(column, "missing"))
        else:
            count, rows = differing_rows(con, (ref_rel, ref_names), (rel, names), column)
            if rows and count == len(rows) and all(last_place(a, b) for _, a, b in rows):
                out.append(Difference(column, "last place", count, rows[:5]))
            else:
                out.append(Difference(column, "values", count, rows[:5]))
    for column in sums:
        if column not in ref_sums:
            out.append(Difference(column, "extra"))
    return out


def differing_rows(con, reference: tuple, other: tuple, column: str) -> tuple:
    """(count, up to 5 (key, reference value, other value)) of rows where `column` differs."""

    def values(relation, names):
        original = next(c for c, n in names.items() if n == column)
        types = columns_of(con, relation)
        return (
            f"SELECT CAST({KEY} AS VARCHAR) AS k, {rendered(original, types[original])} AS v "
            f"FROM {relation}"
        )

    sql = (
        f"WITH a AS ({values(*reference)}), b AS ({values(*other)}) "
        "SELECT coalesce(a.k, b.k) AS k, a.v, b.v FROM a FULL JOIN b ON a.k = b.k "
        "WHERE a.v IS DISTINCT FROM b.v OR a.k IS NULL OR b.k IS NULL ORDER BY 1"
    )
    count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
    return count, con.execute(f"{sql} LIMIT {LAST_PLACE_ROWS}").fetchall()


def last_place(a, b) -> bool:
    """Whether two rendered fractions differ by at most one unit in their last decimal place.

    Sums of floats added in another order can land on either side of a rounding boundary:
    `round(306.345000000001, 2)` and `round(306.344999999999, 2)` are 306.35 and 306.34.
    """
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    places = max(len(v.split(".")[1]) if "." in v else 0 for v in (a, b))
    # Whole numbers (counts, days) are exact on both sides: off by one is a real difference.
    return places > 0 and abs(x - y) <= 1.000001 * 10.0 ** -places


# --- the bench ---------------------------------------------------------------------------------


def run_sides(args, warehouse: Path, base: Path, sides: dict, profile_sql) -> None:
    """Runs every side `args.runs` times, one after the other within each run."""
    out = base / "out"
    out.mkdir(exist_ok=True)
    logs = base / "logs"
    logs.mkdir(exist_ok=True)
    commands = {
        "tagfusion": tagfusion_command(args.tagfusion, warehouse, base),
        "duckdb": duckdb_command(warehouse, out / "duckdb.parquet", base),
    }
    if profile_sql is not None:
        commands["datafusion"] = datafusion_command(
            args.tagfusion, warehouse, profile_sql, out / "datafusion.parquet", base
        )
    for run in range(1, args.runs + 1):
        for name, command in commands.items():
            (out / f"{name}.parquet").unlink(missing_ok=True)
            m = measure(command, logs / f"{name}-{run}.log")
            sides[name].runs.append(m)
            print(f"run {run}: {SIDE_LABELS[name]:<18} {m.seconds:8.2f} s  {m.peak_rss_mb:8.1f} MB")


def relations(warehouse: Path, base: Path, sides: dict, con) -> dict:
    """Each measured side's answer as (relation, compared names)."""
    duck = parquet_relation(base / "out" / "duckdb.parquet")
    duck_columns = columns_of(con, duck)
    segments = {c.removeprefix(SEGMENT_PREFIX) for c in duck_columns if c.startswith(SEGMENT_PREFIX)}
    found = {"duckdb": (duck, {c: c for c in duck_columns})}
    snapshot = snapshot_relation(warehouse)
    found["tagfusion"] = (snapshot, snapshot_names(con, snapshot))
    if sides["datafusion"].runs:
        raw = parquet_relation(base / "out" / "datafusion.parquet")
        found["datafusion"] = (raw, rename_segments(columns_of(con, raw), segments))
    return found


def snapshot_names(con, snapshot: str) -> dict:
    """The snapshot's columns to compare: all but those of the dropped tags and TagFusion's own
    `tagfusion:…` columns.

    A Delta table keeps a dropped column in its schema, so a snapshot written after DROP TAG
    still has it, NULL on every row; anything else there means the drop did not happen.
    """
    names = {}
    for column in columns_of(con, snapshot):
        if column.startswith("tagfusion:"):
            # TagFusion's own bookkeeping (the key id), not a tag: nothing to compare.
            continue
        if column not in DROPPED_TAGS:
            names[column] = column
            continue
        values = con.execute(f'SELECT count("{column}") FROM {snapshot}').fetchone()[0]
        if values:
            sys.exit(f"the snapshot has {values} values of the dropped tag {column}")
    return names


def print_table(sides: dict) -> None:
    print()
    print(f"{'side':<18} {'runs':>4} {'min s':>9} {'median s':>9} {'peak RSS MB':>12}  checksum")
    for name, side in sides.items():
        if not side.runs:
            print(f"{SIDE_LABELS[name]:<18} skipped: {side.skipped}")
            continue
        print(
            f"{SIDE_LABELS[name]:<18} {len(side.runs):>4} {side.min_seconds():>9.2f} "
            f"{side.median_seconds():>9.2f} {side.peak_rss_mb():>12.1f}  {overall(side.checksum)}"
        )
    duck = sides["duckdb"]
    for name in ["tagfusion", "datafusion"]:
        side = sides[name]
        if side.runs:
            print(
                f"{SIDE_LABELS[name]} / DuckDB: {side.median_seconds() / duck.median_seconds():.2f}x "
                f"time (median), {side.peak_rss_mb() / duck.peak_rss_mb():.2f}x peak RSS"
            )


def report_differences(name: str, diffs: list) -> None:
    label = SIDE_LABELS[name]
    print(f"\n{label} differs from DuckDB in {len(diffs)} column(s): "
          + ", ".join(d.column for d in diffs))
    first = diffs[0]
    if first.problem in ("missing", "extra"):
        print(f"  first: {first.column} is {first.problem} on the {label} side")
    elif first.problem == "rows":
        print("  first: the number of rows or the set of keys differs")
    else:
        print(f"  first: {first.column}, {first.count} customer(s) differ; "
              f"e.g. ({KEY}: DuckDB | {label})")
        for key, ref_value, value in first.examples:
            print(f"    {key}: {ref_value} | {value}")


def main() -> None:
    args = parse_args()
    base = args.workdir / f"customers-{args.customers}"
    warehouse = prepare_warehouse(args.tagfusion, args.customers, base)
    rows = table_rows(warehouse / "demo")
    print(
        "data: " + ", ".join(f"{n} {t}" for t, n in rows.items())
        + f"; as of {AS_OF}; DuckDB {duckdb.__version__}, {DUCKDB_THREADS} threads; "
        + f"dropped tags: {', '.join(DROPPED_TAGS)}"
    )

    sides = {name: Side(name) for name in SIDES}
    profile_sql, why_not = compiled_profile_sql(args.tagfusion, warehouse, base)
    if profile_sql is None:
        sides["datafusion"].skipped = why_not
        print(f"raw DataFusion skipped: {why_not}")
    run_sides(args, warehouse, base, sides, profile_sql)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    answers = relations(warehouse, base, sides, con)
    for name, (relation, names) in answers.items():
        sides[name].checksum = checksum(con, relation, names)
    print_table(sides)

    reference = (*answers["duckdb"], sides["duckdb"].checksum)
    differed, rounded = False, False
    for name in ["tagfusion", "datafusion"]:
        if name not in answers:
            continue
        other = (*answers[name], sides[name].checksum)
        diffs = differences(con, reference, other)
        real = [d for d in diffs if d.problem != "last place"]
        if real:
            differed = True
            report_differences(name, real)
        for d in diffs:
            if d.problem == "last place":
                rounded = True
                print(f"\n{SIDE_LABELS[name]}: {d.column} differs from DuckDB on {d.count} "
                      "customer(s), each by one unit in the last decimal place (floats summed "
                      f"in another order, then rounded); accepted. ({KEY}: DuckDB | side)")
                for key, ref_value, value in d.examples:
                    print(f"    {key}: {ref_value} | {value}")
    if differed:
        sys.exit(1)
    if rounded:
        print("\nevery side's answer matches DuckDB's, up to the last-place differences above")
    else:
        print("\nevery side's answer matches DuckDB's (checksums equal)")


if __name__ == "__main__":
    main()
