"""Runs one DuckDB SQL script in a fresh in-memory database, for benches/refresh_bench.py.

The bench starts this in its own process so that the peak RSS it measures is DuckDB's (plus
the Python interpreter that hosts it), not the bench's.

Usage: python run_duckdb_script.py SCRIPT.sql [--threads N]
"""

import argparse

import duckdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", help="a SQL file with no placeholders left")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with open(args.script, encoding="utf-8") as f:
        script = f.read()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(script)
    con.close()


if __name__ == "__main__":
    main()
