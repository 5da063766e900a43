//! The warehouse is readable by other engines: the `deltalake` Python package reads the profile
//! history and the catalog with the same rows the engine returns.

use std::process::Command;

use super::{Sandbox, python, setup_sql, tags_sql};

/// Reads a Delta table of the sandbox's warehouse (local or S3) with the deltalake Python
/// package; rows as JSON lines with columns in table order, timestamps as epoch seconds.
pub fn read_with_python(
    s: &Sandbox,
    table: &str,
    columns: &[&str],
    order_by: &str,
) -> Vec<serde_json::Value> {
    let script = r#"
import json, os, sys, datetime
from deltalake import DeltaTable
path, columns, order_by = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
options = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
rows = DeltaTable(path, storage_options=options).to_pyarrow_table(columns=columns).to_pylist()
def plain(v):
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=datetime.timezone.utc).timestamp() if v.tzinfo is None else v.timestamp()
    return v
rows = [{c: plain(r[c]) for c in columns} for r in rows]
rows.sort(key=lambda r: tuple(str(r[k]) for k in order_by.split(",")))
for r in rows:
    print(json.dumps(r, ensure_ascii=False))
sys.stdout.flush()
# Skip interpreter teardown: deltalake's runtime threads can abort it ("terminate called
# without an active exception") after all the work is done.
os._exit(0)
"#;
    let location = format!("{}/{table}", s.location.trim_end_matches('/'));
    let out = Command::new(python())
        .args(["-c", script, &location, &columns.join(","), order_by])
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn profile_history_reads_back_identically_with_python_deltalake() {
    let s = Sandbox::new();
    s.fixture(&["2026-06-20 00:00:00", "2026-07-01 00:00:00"]);
    assert_python_reads_the_fixture_history(&s);
}

/// The fixture's two snapshots, as the engine and Python's deltalake read them: the same rows.
pub fn assert_python_reads_the_fixture_history(s: &Sandbox) {
    let ours = s.ok(&[
        "--format",
        "ndjson",
        "run",
        "-c",
        "SELECT customer_id, gender, orders_30d, spend_30d, important, spend_rank, \
                CAST(to_unixtime(snapshot_at) AS DOUBLE) AS snapshot_at \
         FROM customer.profile_history ORDER BY snapshot_at, customer_id",
    ]);
    let ours: Vec<serde_json::Value> = ours
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let theirs = read_with_python(
        s,
        "customer/profile_history",
        &[
            "customer_id",
            "gender",
            "orders_30d",
            "spend_30d",
            "important",
            "spend_rank",
            "snapshot_at",
        ],
        "snapshot_at,customer_id",
    );
    assert_eq!(ours.len(), 8);
    // arrow-json leaves out nulls; Python writes them as null: compare with nulls dropped.
    let strip = |rows: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        rows.into_iter()
            .map(|mut r| {
                if let Some(o) = r.as_object_mut() {
                    o.retain(|_, v| !v.is_null());
                }
                r
            })
            .collect()
    };
    assert_eq!(strip(theirs), strip(ours));
}

#[test]
fn catalog_tables_are_delta_tables_too() {
    let s = Sandbox::new();
    let setup = s.write("setup.sql", &format!("{}\n{}", setup_sql(), tags_sql()));
    s.ok(&["run", setup.to_str().unwrap()]);
    let tags = read_with_python(
        &s,
        "_catalog/tags",
        &["entity", "name", "kind", "position"],
        "position",
    );
    let names: Vec<(&str, &str)> = tags
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or(""),
                t["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("gender", "attribute"),
            ("orders_30d", "statistic"),
            ("spend_30d", "statistic"),
            ("important", "rule"),
            ("spend_rank", "model")
        ]
    );
}

#[test]
fn persona_lookups_and_segment_exports_are_audited_as_the_os_user() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let persona = s.ok(&[
        "run",
        "-c",
        "CREATE SEGMENT customer.buyers AS orders_30d > 0",
        "-c",
        "PERSONA customer 'C2'",
        "-c",
        "COPY (SELECT * FROM customer.buyers) TO 'buyers.csv' STORED AS CSV",
    ]);
    assert!(
        persona.contains("gender,女") || persona.contains("gender,男"),
        "{persona}"
    );
    assert!(s.path("buyers.csv").exists());
    let os_user = Command::new("id").arg("-un").output().expect("id -un");
    let os_user = String::from_utf8_lossy(&os_user.stdout).trim().to_string();
    // Read back by a second Delta reader.
    let rows = read_with_python(
        &s,
        "_catalog/audit",
        &["user", "action", "object", "detail"],
        "action",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["action"], "export");
    assert_eq!(rows[0]["object"], "customer.buyers");
    assert_eq!(rows[0]["detail"], "buyers.csv");
    assert_eq!(rows[1]["action"], "persona");
    assert_eq!(rows[1]["detail"], "'C2'");
    for r in &rows {
        assert_eq!(r["user"], os_user.as_str());
    }
}

#[test]
fn tag_reads_are_counted_per_tag_and_kept_in_the_warehouse() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    s.ok(&[
        "run",
        "-c",
        "SELECT gender, count(*) FROM customer.profile GROUP BY 1",
        "-c",
        "SELECT orders_30d FROM customer.profile WHERE gender = '女'",
        "-c",
        "PERSONA customer 'C1'",
    ]);
    // A later process sees the reads of the earlier one; never-read tags are the zombies.
    let usage = s.ok(&[
        "run",
        "-c",
        "SELECT tag, via, CAST(sum(reads) AS BIGINT) AS reads FROM tagfusion.tag_usage \
         GROUP BY 1, 2 ORDER BY 1, 2",
    ]);
    assert_eq!(
        usage,
        "tag,via,reads\n\
         gender,persona,1\n\
         gender,query,2\n\
         important,persona,1\n\
         orders_30d,persona,1\n\
         orders_30d,query,1\n\
         spend_30d,persona,1\n\
         spend_rank,persona,1\n"
    );
    let zombies = s.ok(&[
        "run",
        "-c",
        "SELECT t.name FROM tagfusion.tags t WHERE NOT EXISTS \
         (SELECT 1 FROM tagfusion.tag_usage u WHERE u.entity = t.entity AND u.tag = t.name AND u.via = 'query') \
         ORDER BY 1",
    ]);
    assert_eq!(zombies, "name\nimportant\nspend_30d\nspend_rank\n");
}
