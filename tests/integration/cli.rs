//! `tagfusion run`, scripts on stdin, output formats, errors and exit codes.

use super::{Sandbox, setup_sql};

#[test]
fn runs_files_and_commands_in_order_with_csv_by_default() {
    let s = Sandbox::new();
    let a = s.write(
        "a.sql",
        "CREATE TABLE t (x INT) AS VALUES (1), (2);\nSELECT sum(x) AS total FROM t;",
    );
    let b = s.write("b.sql", "SELECT count(*) AS n FROM t;");
    let out = s.ok(&[
        "run",
        a.to_str().unwrap(),
        "-c",
        "INSERT INTO t VALUES (10)",
        b.to_str().unwrap(),
    ]);
    // csv (stdout is not a terminal), header per result, in command-line order
    assert_eq!(out, "total\n3\n\ncount\n1\n\nn\n3\n");
}

#[test]
fn formats_table_json_ndjson() {
    let s = Sandbox::new();
    let sql = "SELECT 1 AS a, '标签' AS b UNION ALL SELECT 2, NULL ORDER BY a";
    let table = s.ok(&["--format", "table", "run", "-c", sql]);
    // The REPL's table: wide characters aligned, numbers right-aligned, NULL shown, a count.
    assert!(table.contains("│ a ┆ b    │"), "{table}");
    assert!(table.contains("│ 1 ┆ 标签 │"), "{table}");
    assert!(table.contains("│ 2 ┆ NULL │"), "{table}");
    assert!(table.ends_with("2 rows\n"), "{table}");
    let json = s.ok(&["--format", "json", "run", "-c", sql]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v, serde_json::json!([{"a": 1, "b": "标签"}, {"a": 2}]));
    let nd = s.ok(&["--format", "ndjson", "run", "-c", sql]);
    assert_eq!(nd, "{\"a\":1,\"b\":\"标签\"}\n{\"a\":2}\n");
    let empty = s.ok(&["--format", "csv", "run", "-c", "SELECT 1 AS a WHERE false"]);
    assert_eq!(empty, "a\n");
    // List-valued tags (top categories…) print as text in CSV, which has no nested values.
    let lists = s.ok(&["run", "-c", "SELECT 1 AS a, ['服饰', '食品'] AS l"]);
    assert_eq!(lists, "a,l\n1,\"[服饰, 食品]\"\n");
}

#[test]
fn several_results_are_separated_in_every_format() {
    let s = Sandbox::new();
    let run = |format: &str| {
        s.ok(&[
            "--format",
            format,
            "run",
            "-c",
            "SELECT 1 AS a",
            "-c",
            "CREATE OR REPLACE VIEW v AS SELECT 1 AS x",
            "-c",
            "SELECT '' AS b UNION ALL SELECT 'y' ORDER BY b",
            "-c",
            "SELECT 2 AS c WHERE false",
        ])
    };
    // csv: a blank line between blocks, each block a CSV file of its own; the empty string
    // row is quoted, so a blank line is always a separator. DDL prints nothing.
    let csv = run("csv");
    assert_eq!(csv, "a\n1\n\nb\n\"\"\ny\n\nc\n");
    let blocks: Vec<&str> = csv.split("\n\n").collect();
    assert_eq!(blocks, vec!["a\n1", "b\n\"\"\ny", "c\n"]);
    // ndjson: the same blank line between statements' rows.
    assert_eq!(
        run("ndjson"),
        "{\"a\":1}\n\n{\"b\":\"\"}\n{\"b\":\"y\"}\n\n"
    );
    // json: one array per statement, one per line.
    let json = run("json");
    let arrays: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one array per line"))
        .collect();
    assert_eq!(
        arrays,
        vec![
            serde_json::json!([{"a": 1}]),
            serde_json::json!([{"b": ""}, {"b": "y"}]),
            serde_json::json!([]),
        ]
    );
}

#[test]
fn deep_and_long_statements_run_or_are_refused_with_the_limit() {
    let s = Sandbox::new();
    let long_where = |n: usize| {
        format!(
            "SELECT count(*) AS n FROM generate_series(1, 10) t(orders) WHERE {}",
            vec!["orders > 0"; n].join(" AND ")
        )
    };
    // 10,000 conditions crashed the CLI with a stack overflow.
    let script = s.write("long.sql", &long_where(10_000));
    assert_eq!(s.ok(&["run", script.to_str().unwrap()]), "n\n10\n");
    let script = s.write("deep.sql", &format!("SELECT 1;\n{};\n", long_where(60_000)));
    let out = s.run(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.sql:2:"), "{err}");
    assert!(err.contains("more than 100000 operators"), "{err}");
    let nested = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let out = s.run(&["run", "-c", &nested]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nest more than 200 levels deep"), "{err}");
}

#[test]
fn script_on_stdin() {
    let s = Sandbox::new();
    let out = s.with_stdin(&[], "SELECT 40 + 2 AS answer;");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "answer\n42\n");
    let out = s.with_stdin(&["run", "-"], "SELECT 'x' AS y;");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "y\nx\n");
}

#[test]
fn parse_error_reports_file_line_column_with_caret_and_runs_nothing() {
    let s = Sandbox::new();
    let script = s.write(
        "bad.sql",
        "CREATE TABLE t (x INT) AS VALUES (1);\nCREATE TAG c.x KIND banana AS 1;\n",
    );
    let out = s.run(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = script.display().to_string();
    assert_eq!(
        err,
        format!(
            "error: {name}:2:21: unknown tag kind 'banana'; expected one of: attribute, statistic, rule, model\n  |\n2 | CREATE TAG c.x KIND banana AS 1;\n  |                     ^\n"
        )
    );
    assert!(out.stdout.is_empty());
    // Nothing of the script ran: t does not exist in a new session either way, so check the
    // catalog instead — a script that defines an entity and then fails to parse defines nothing.
    let script = s.write(
        "bad2.sql",
        &format!(
            "{}\nCREATE ENTITY customer KEY customer_id FROM customers;\nSELEC 1;",
            setup_sql()
        ),
    );
    let out = s.run(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":7:1: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.ok(&["run", "-c", "SELECT count(*) AS n FROM tagfusion.entities"]),
        "n\n0\n"
    );
}

#[test]
fn errors_stop_the_script_with_location_and_did_you_mean() {
    let s = Sandbox::new();
    let script = s.write(
        "unknown.sql",
        &format!("{}\nCREATE ENTITY customer KEY customer_id FROM customers;\n  CREATE TAG customer.big AS ordrs > 1;\nSELECT 'not reached';", setup_sql()),
    );
    let out = s.run(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:7:30: unknown tag or column 'ordrs' in the definition of tag 'customer.big'",
            script.display()
        )),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not reached"));
    // The statements before the error took effect.
    assert_eq!(
        s.ok(&["run", "-c", "SELECT name FROM tagfusion.entities"]),
        "name\ncustomer\n"
    );
    let out = s.run(&["run", "-c", "SELECT * FROM custmers"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: -c#1:1:15: unknown table 'custmers'; did you mean 'customers'?\n  |\n1 | SELECT * FROM custmers\n  |               ^\n"
    );
}

#[test]
fn definitions_tables_and_profiles_persist_across_processes() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    // A second process sees the entity, the tags, the source tables and the profile.
    let tags = s.ok(&["run", "-c", "SHOW TAGS FOR customer"]);
    assert_eq!(
        tags.lines()
            .map(|l| l.split(',').nth(1).unwrap_or(""))
            .collect::<Vec<_>>(),
        vec![
            "tag",
            "gender",
            "orders_30d",
            "spend_30d",
            "important",
            "spend_rank"
        ]
    );
    let profile = s.ok(&[
        "run",
        "-c",
        "SELECT customer_id, orders_30d, spend_30d FROM customer.profile ORDER BY 1",
    ]);
    assert_eq!(
        profile,
        "customer_id,orders_30d,spend_30d\nC1,3,160.0\nC2,1,80.0\nC3,1,60.0\nC4,0,\n"
    );
    // Segments defined in one process are views in the next.
    s.ok(&[
        "run",
        "-c",
        "CREATE SEGMENT customer.active AS orders_30d > 0",
    ]);
    assert_eq!(
        s.ok(&["run", "-c", "SELECT count(*) AS n FROM customer.active"]),
        "n\n3\n"
    );
    // … and can refresh again, which needs the source tables the first process declared.
    s.ok(&[
        "run",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-06-20 00:00:00'",
    ]);
    let n = s.ok(&[
        "run",
        "-c",
        "SELECT count(DISTINCT snapshot_at) AS n FROM customer.profile_history",
    ]);
    assert_eq!(n, "n\n2\n");
}

#[test]
fn warehouse_from_environment_and_default_directory() {
    let s = Sandbox::new();
    let env_wh = s.path("from-env");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tagfusion"))
        .args(["run", "-c", "CREATE TABLE t AS VALUES (1)"])
        .env("TAGFUSION_WAREHOUSE", &env_wh)
        .current_dir(s.dir.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(env_wh.join("_catalog/entities/_delta_log").exists());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tagfusion"))
        .args(["run", "-c", "SELECT 1"])
        .env_remove("TAGFUSION_WAREHOUSE")
        .current_dir(s.dir.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(
        s.path("tagfusion-warehouse/_catalog/tags/_delta_log")
            .exists()
    );
}

#[test]
fn a_failed_refresh_exits_1_and_keeps_the_previous_snapshot() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let before = s.ok(&[
        "run",
        "-c",
        "SELECT * FROM customer.profile_history ORDER BY customer_id",
    ]);
    let tags_before = s.ok(&[
        "run",
        "-c",
        "SELECT name, version, definition FROM tagfusion.tags ORDER BY position",
    ]);
    let out = s.run(&[
        "run",
        "-c",
        "CREATE TAG customer.broken AS (SELECT customer_id, CAST(category AS INT) FROM orders GROUP BY 1, 2 HAVING count(*) = 1 AND customer_id = 'C3')",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-02 00:00:00'",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tag customer.broken failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.ok(&[
            "run",
            "-c",
            "SELECT * FROM customer.profile_history ORDER BY customer_id"
        ]),
        before
    );
    s.ok(&["run", "-c", "DROP TAG customer.broken"]);
    assert_eq!(
        s.ok(&[
            "run",
            "-c",
            "SELECT name, version, definition FROM tagfusion.tags ORDER BY position"
        ]),
        tags_before
    );
}

#[test]
fn errors_point_at_the_unknown_name() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let error_of = |args: &[&str]| {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // A tag's definition (TagFusion's check): the caret under the name, column 30.
    let err = error_of(&["run", "-c", "CREATE TAG customer.twice AS spend_30_d * 2;"]);
    assert!(
        err.starts_with("error: -c#1:1:30: unknown tag or column 'spend_30_d' in the definition of tag 'customer.twice'; did you mean 'spend_30d'?"),
        "{err}"
    );
    assert!(
        err.ends_with(&format!("  | {}^\n", " ".repeat(29))),
        "{err}"
    );
    // DataFusion's planning errors: an unknown column, table and function.
    let err = error_of(&["run", "-c", "SELECT nosuch_column FROM customer.profile;"]);
    assert!(
        err.starts_with("error: -c#1:1:8: No field named nosuch_column"),
        "{err}"
    );
    let err = error_of(&["run", "-c", "SELECT gender FROM customer.profil"]);
    assert!(
        err.starts_with("error: -c#1:1:20: unknown table 'customer.profil'"),
        "{err}"
    );
    let err = error_of(&["run", "-c", "SELECT gendr_fn(gender) FROM customer.profile"]);
    assert!(
        err.starts_with("error: -c#1:1:8: Invalid function 'gendr_fn'"),
        "{err}"
    );
    // Unknown entity, tag and segment in DSL statements.
    let err = error_of(&["run", "-c", "REFRESH TAG customer.gendr"]);
    assert!(
        err.starts_with("error: -c#1:1:13: unknown tag 'customer.gendr'"),
        "{err}"
    );
    let err = error_of(&["run", "-c", "CREATE SEGMENT custmer.x AS true"]);
    assert!(
        err.starts_with("error: -c#1:1:16: unknown entity 'custmer'"),
        "{err}"
    );
    let err = error_of(&[
        "run",
        "-c",
        "CREATE SEGMENT customer.x AS important AND  big_ones",
    ]);
    assert!(err.starts_with("error: -c#1:1:45:"), "{err}");
    // A statement over lines 2-4 of a file, the bad name on line 3.
    let script = s.write(
        "e.sql",
        "SELECT 1;\nSELECT customer_id,\n       gendr\nFROM customer.profile;\n",
    );
    let err = error_of(&["run", script.to_str().unwrap()]);
    assert!(
        err.starts_with(&format!(
            "error: {}:3:8: No field named gendr",
            script.display()
        )),
        "{err}"
    );
    assert!(err.contains("3 |        gendr\n  |        ^\n"), "{err}");
}

#[test]
fn tags_named_like_sql_keywords_are_refused() {
    let s = Sandbox::new();
    s.fixture(&[]);
    let out = s.run(&["run", "-c", "CREATE TAG customer.cluster AS 1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'cluster' cannot name a tag of customer: it is a SQL keyword"),
        "{err}"
    );
    let out = s.run(&["run", "-c", "CREATE SEGMENT customer.order AS important"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'order' cannot name a segment of customer"),
        "{err}"
    );
    // Names that read back as columns are fine, keywords among them (`year`, `level`).
    s.ok(&[
        "run",
        "-c",
        "CREATE TAG customer.level AS 1",
        "-c",
        "CREATE TAG customer.value_cluster AS 2",
    ]);
    let out = s.ok(&[
        "run",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
        "-c",
        "SELECT customer_id, level, value_cluster FROM customer.profile ORDER BY 1 LIMIT 1",
    ]);
    assert!(
        out.ends_with("customer_id,level,value_cluster\nC1,1,2\n") || out.contains(",1,2\n"),
        "{out}"
    );
}
