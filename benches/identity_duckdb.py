"""Connected components of the identity benchmark's sources in DuckDB, by the same algorithm
TagFusion runs (scripts/identity_bench.sh): identifiers of a row linked as a star to the row's
smallest, then min-label propagation with pointer jumping until no label changes.

Usage: identity_duckdb.py DATA_DIR   (members/, logins/, emails/ Parquet from the bench script)
Prints: seconds, rounds, identifiers, groups.
"""
import sys
import time

import duckdb

data = sys.argv[1]
con = duckdb.connect()
start = time.time()
con.execute(f"""
CREATE TABLE occ AS
  WITH m AS (SELECT row_number() OVER () AS row, * FROM read_parquet('{data}/members/*.parquet')),
       l AS (SELECT row_number() OVER () AS row, * FROM read_parquet('{data}/logins/*.parquet')),
       e AS (SELECT row_number() OVER () AS row, * FROM read_parquet('{data}/emails/*.parquet'))
  SELECT * FROM (
    SELECT 0 AS src, row, 'member_id' AS id_type, member_id AS id FROM m
    UNION ALL SELECT 0, row, 'phone', phone FROM m
    UNION ALL SELECT 1, row, 'device_id', device_id FROM l
    UNION ALL SELECT 1, row, 'phone', phone FROM l
    UNION ALL SELECT 2, row, 'email', lower(trim(email)) FROM e
    UNION ALL SELECT 2, row, 'member_id', member_id FROM e
  ) WHERE id IS NOT NULL;
CREATE TABLE nodes AS
  SELECT row_number() OVER (ORDER BY id_type, id) AS node, id_type, id
  FROM (SELECT DISTINCT id_type, id FROM occ);
CREATE TABLE o AS SELECT src, row, node FROM occ JOIN nodes USING (id_type, id);
CREATE TABLE adj AS
  WITH e AS (SELECT DISTINCT o.node AS a, f.first AS b FROM o
             JOIN (SELECT src, row, min(node) AS first FROM o GROUP BY src, row) f USING (src, row)
             WHERE o.node <> f.first)
  SELECT a AS node, b AS nbr FROM e UNION ALL SELECT b, a FROM e;
CREATE TABLE labels AS
  SELECT n.node, least(n.node, coalesce(min(a.nbr), n.node)) AS label
  FROM nodes n LEFT JOIN adj a ON a.node = n.node GROUP BY n.node;
""")
rounds = 0
while True:
    rounds += 1
    con.execute("""
    CREATE OR REPLACE TABLE step AS
      SELECT node, min(label) AS label FROM (
        SELECT node, label FROM labels
        UNION ALL SELECT a.node, l.label FROM adj a JOIN labels l ON l.node = a.nbr)
      GROUP BY node;
    CREATE OR REPLACE TABLE jumped AS
      SELECT s.node, least(s.label, p.label) AS label FROM step s JOIN step p ON p.node = s.label;
    """)
    changed = con.execute(
        "SELECT count(*) FROM jumped j JOIN labels l USING (node) WHERE j.label <> l.label"
    ).fetchone()[0]
    con.execute("CREATE OR REPLACE TABLE labels AS SELECT * FROM jumped")
    if changed == 0:
        break
identifiers, groups = con.execute("SELECT count(*), count(DISTINCT label) FROM labels").fetchone()
print(f"duckdb {time.time() - start:.1f} s, {rounds} rounds, {identifiers} identifiers, {groups} groups")
