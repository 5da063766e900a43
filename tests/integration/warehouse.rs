//! The warehouse is readable by other engines: the `deltalake` Python package reads the profile
//! history and the catalog with the same rows the engine returns.

use std::path::Path;
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

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// `tests/data/warehouse-v0` was written by the binary before the catalog was typed (kinds,
/// statuses, value types and source kinds as strings; `tests/data/warehouse-v0.sql` made it,
/// plus a failed refresh). It opens unchanged: every word reads back, the profile, segment and
/// identity tables are there, and it can be refreshed and extended.
#[test]
fn a_warehouse_written_before_the_typed_catalog_opens_unchanged() {
    let s = Sandbox::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/warehouse-v0");
    copy_tree(&fixture, &s.warehouse());
    let tags = s.ok(&[
        "run",
        "-c",
        "SELECT entity, name, kind, value_type, status, definition_kind FROM tagfusion.tags \
         ORDER BY entity, position",
    ]);
    assert_eq!(
        tags,
        "entity,name,kind,value_type,status,definition_kind\n\
         customer,city_name,attribute,Utf8,draft,expression\n\
         customer,gender_code,attribute,Utf8,draft,expression\n\
         customer,spend_90d,statistic,Float64,draft,query\n\
         customer,orders_total,statistic,Int64,draft,query\n\
         customer,big,rule,Boolean,approved,expression\n\
         customer,spend_rank,model,Int64,draft,expression\n\
         customer,retired,rule,Boolean,offline,expression\n\
         member,one,attribute,Int64,draft,expression\n"
    );
    let entities = s.ok(&[
        "run",
        "-c",
        "SELECT name, source_kind FROM tagfusion.entities ORDER BY name",
    ]);
    assert_eq!(entities, "name,source_kind\ncustomer,table\nmember,query\n");
    // The failed refresh is recorded and the profile stays at the last good snapshot.
    let snapshots = s.ok(&[
        "run",
        "-c",
        "SELECT entity, snapshot_at, status FROM tagfusion.snapshots ORDER BY snapshot_at, entity",
    ]);
    assert_eq!(
        snapshots,
        "entity,snapshot_at,status\n\
         customer,2026-06-30T00:00:00Z,ok\n\
         member,2026-06-30T00:00:00Z,ok\n\
         customer,2026-07-15T00:00:00Z,failed\n"
    );
    let profile = s.ok(&["run", "-c", "SELECT * FROM customer.profile ORDER BY 1"]);
    assert_eq!(
        profile,
        "customer_id,city_name,gender_code,spend_90d,orders_total,big,spend_rank\n\
         c1,上海,F,200.0,2,true,1\n\
         c2,北京,M,15.5,1,false,2\n\
         c3,成都,,0.0,1,false,3\n"
    );
    // The offline tag is described as offline, the model as a model.
    let described = s.ok(&["run", "-c", "DESCRIBE TAG customer.retired"]);
    assert!(described.contains("status,offline"), "{described}");
    let described = s.ok(&["run", "-c", "DESCRIBE TAG customer.spend_rank"]);
    assert!(described.contains("kind,model"), "{described}");
    assert_eq!(
        s.ok(&[
            "run",
            "-c",
            "SELECT count(*) AS n FROM customer.big_shanghai"
        ]),
        "n\n1\n"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "-c",
            "SELECT count(DISTINCT one_id) AS groups FROM identity.people"
        ]),
        "groups\n2\n"
    );
    // And it keeps working: a new tag, a refresh, a status change.
    let after = s.ok(&[
        "run",
        "-c",
        "CREATE TAG customer.heavy AS orders_total >= 2",
        "-c",
        "ALTER TAG customer.heavy SET STATUS approved",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-31 00:00:00'",
        "-c",
        "SELECT customer_id, heavy, big FROM customer.profile ORDER BY 1",
        "-c",
        "SELECT status FROM tagfusion.tags WHERE name = 'heavy'",
    ]);
    assert!(
        after.ends_with(
            "customer_id,heavy,big\nc1,true,false\nc2,false,false\nc3,false,false\n\nstatus\napproved\n"
        ),
        "{after}"
    );
}
