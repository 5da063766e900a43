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
    assert_eq!(out, "total\n3\ncount\n1\nn\n3\n");
}

#[test]
fn formats_table_json_ndjson() {
    let s = Sandbox::new();
    let sql = "SELECT 1 AS a, '标签' AS b UNION ALL SELECT 2, NULL ORDER BY a";
    let table = s.ok(&["--format", "table", "run", "-c", sql]);
    assert!(table.contains("| a | b    |"), "{table}");
    assert!(table.contains("| 1 | 标签 |"), "{table}");
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
            "error: {}:7:3: unknown tag or column 'ordrs' in the definition of tag 'customer.big'",
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
        "error: -c#1:1:1: unknown table 'custmers'; did you mean 'customers'?\n  |\n1 | SELECT * FROM custmers\n  | ^\n"
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
