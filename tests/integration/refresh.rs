//! REFRESH from the command line: `EXPLAIN REFRESH ENTITY` shows the fused scan and the plan a
//! refresh runs (tests/slt/explain_refresh.slt checks the values it computes).

use super::{Sandbox, setup_sql, tags_sql};

#[test]
fn explain_refresh_shows_one_fused_scan_per_table_and_the_plan() {
    let s = Sandbox::new();
    let setup = s.write("setup.sql", &format!("{}\n{}", setup_sql(), tags_sql()));
    s.ok(&["run", setup.to_str().unwrap_or_default()]);
    let out = s.ok(&[
        "--format",
        "json",
        "run",
        "-c",
        "EXPLAIN REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Array(rows)) => rows,
            Ok(row) => vec![row],
            Err(e) => panic!("not JSON: {e}: {l}"),
        })
        .collect();
    let steps: Vec<&str> = rows.iter().filter_map(|r| r["step"].as_str()).collect();
    // orders_30d and spend_30d read `orders` by customer_id: one scan, its window a FILTER.
    assert_eq!(
        steps,
        ["fused scan", "profile sql", "logical_plan", "physical_plan"],
        "{out}"
    );
    assert_eq!(rows[0]["tags"], "orders_30d, spend_30d");
    let scan = rows[0]["plan"].as_str().unwrap_or_default();
    assert!(
        scan.contains("sum(amount) FILTER (WHERE ts > as_of() - INTERVAL '30 days')")
            || scan.contains(
                "FROM orders\nWHERE (ts > as_of() - INTERVAL '30 days') AND (ts <= as_of())"
            ),
        "{scan}"
    );
    let physical = rows[3]["plan"].as_str().unwrap_or_default();
    assert_eq!(
        physical.matches("AggregateExec: mode=Partial").count(),
        1,
        "{physical}"
    );
    assert!(physical.contains("HashJoinExec"), "{physical}");

    // A population model is fitted over staged rows, not run as a window: EXPLAIN says so and
    // the refresh writes its values.
    s.ok(&[
        "run",
        "-c",
        "CREATE TAG customer.spend_score KIND model AS rfm_score(spend_30d) OVER ()",
    ]);
    let out = s.ok(&[
        "--format",
        "json",
        "run",
        "-c",
        "EXPLAIN REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
    assert!(out.contains("population models"), "{out}");
    assert!(out.contains("rfm_score(spend_30d)"), "{out}");
    s.ok(&[
        "run",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
    // The same scores as the window function gives over the written profile.
    let scores = s.ok(&[
        "--format",
        "csv",
        "run",
        "-c",
        "SELECT count(spend_score) AS scored, count(*) FILTER (WHERE spend_score IS DISTINCT FROM w) AS differ \
         FROM (SELECT spend_score, rfm_score(spend_30d) OVER () AS w FROM customer.profile)",
    ]);
    assert_eq!(scores.lines().nth(1), Some("3,0"), "{scores}");
}

/// The snapshot record is the commit point: a refresh that dies after committing the profile
/// but before recording the snapshot (an error there, or the process killed) leaves
/// `customer.profile` on the version the latest record names. REFRESH TAG rewrites the current
/// snapshot in place, so without the pinned version its commit alone would show.
#[test]
fn a_profile_commit_no_snapshot_record_names_is_never_read() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let profile = [
        "run",
        "-c",
        "SELECT customer_id, gender FROM customer.profile ORDER BY customer_id",
    ];
    let before = s.ok(&profile);
    assert!(before.contains('女'), "{before}");
    s.ok(&[
        "run",
        "-c",
        "CREATE OR REPLACE TAG customer.gender AS CASE sex WHEN 'F' THEN 'F' ELSE 'M' END",
    ]);
    let refresh_tag = ["run", "-c", "REFRESH TAG customer.gender"];
    for armed in ["refresh.after_profile", "refresh.after_profile=abort"] {
        let out = s
            .cmd(&refresh_tag)
            .env(tagfusion::failpoint::VARIABLE, armed)
            .output()
            .expect("run tagfusion");
        assert!(!out.status.success(), "{armed}: the refresh went through");
        assert_eq!(
            s.ok(&profile),
            before,
            "{armed}: an unrecorded commit shows"
        );
    }
    let failed = s.ok(&[
        "run",
        "-c",
        "SELECT status, message FROM tagfusion.snapshots WHERE operation LIKE 'refresh tag%'",
    ]);
    // The error is recorded; the abort left no record at all.
    assert_eq!(failed.lines().count(), 2, "{failed}");
    assert!(
        failed.contains("failed,failpoint refresh.after_profile"),
        "{failed}"
    );
    s.ok(&refresh_tag);
    let after = s.ok(&profile);
    assert!(after.contains(",F") && !after.contains('女'), "{after}");
}
