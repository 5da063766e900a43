//! `tagfusion serve` with real clients: arrow-flight's Flight SQL client (here) and the Python
//! ADBC driver (`adbc-driver-flightsql`), against the real binary on a loopback port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, SqlInfo};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use tonic::transport::Channel;

use super::{Sandbox, python};

/// A running `tagfusion serve`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Users of the tests: one per role.
pub const USERS: [(&str, &str, &str); 3] = [
    ("ann", "admin", "ann-pw:1"),
    ("bob", "analyst", "bob-pw"),
    ("vic", "viewer", "vic-pw"),
];

/// The fixture warehouse plus a sensitive tag (from the source column city_name), a segment
/// and users; then the server on a free loopback port.
pub fn start(s: &Sandbox, extra: &[&str]) -> Server {
    s.fixture(&["2026-07-01 00:00:00"]);
    s.ok(&[
        "run",
        "-c",
        "CREATE TAG customer.home_city SENSITIVE AS city_name",
        "-c",
        "CREATE SEGMENT customer.shoppers AS orders_30d >= 1",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
        "-c",
        "CREATE VIEW customer_cities AS SELECT customer_id, home_city FROM customer.profile",
    ]);
    let users = s.path("users.toml");
    for (name, role, password) in USERS {
        let out = s.with_stdin(
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--users",
                users.to_str().unwrap(),
            ],
            &format!("{password}\n"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut args = vec![
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
        "--min-group-size",
        "2",
    ];
    args.extend(extra);
    let mut child = s
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tagfusion serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("read stderr");
        if let Some(rest) = line.split("://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

pub async fn client(addr: &str, user: &str, password: &str) -> FlightSqlServiceClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut c = FlightSqlServiceClient::new(channel);
    c.handshake(user, password).await.expect("login");
    c
}

pub async fn query(
    c: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<Vec<RecordBatch>, String> {
    let info = c
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    try_fetch(c, info).await
}

/// Every batch of a FlightInfo's endpoints, or the first error.
async fn try_fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: arrow_flight::FlightInfo,
) -> Result<Vec<RecordBatch>, String> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("no ticket")?;
        let batches: Vec<RecordBatch> = c
            .do_get(ticket)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        out.extend(batches);
    }
    Ok(out)
}

/// Every batch of a FlightInfo's endpoints.
pub async fn fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: arrow_flight::FlightInfo,
) -> Vec<RecordBatch> {
    try_fetch(c, info).await.expect("fetch")
}

/// Rows as "v1|v2|…" (NULL as NULL).
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let columns: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| c.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn flight_sql_statements_prepared_statements_and_metadata() {
    let s = Sandbox::new();
    let server = start(&s, &[]);
    runtime().block_on(async {
        // Wrong password: refused, and the attempt is in the audit log.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut anonymous = FlightSqlServiceClient::new(channel);
        let err = anonymous
            .handshake("ann", "nope")
            .await
            .expect_err("bad password");
        assert!(
            err.to_string().contains("wrong user name or password"),
            "{err}"
        );
        let err = query(&mut anonymous, "SELECT 1")
            .await
            .expect_err("no token");
        assert!(err.contains("log in"), "{err}");

        let mut ann = client(&server.addr, "ann", "ann-pw:1").await;
        // SQL and the TAG DSL over the wire.
        let b = query(&mut ann, "SELECT count(*) AS n FROM customer.profile")
            .await
            .expect("count");
        assert_eq!(rows(&b), vec!["4"]);
        let b = query(&mut ann, "SHOW TAGS FOR customer LIKE 'spend%'")
            .await
            .expect("show tags");
        assert_eq!(rows(&b).len(), 2, "{:?}", rows(&b));
        let b = query(&mut ann, "SELECT count(*) FROM customer.shoppers")
            .await
            .expect("segment");
        assert_eq!(rows(&b), vec!["3"]);
        // Bad SQL: the CLI's message, with line, column and caret.
        let err = query(&mut ann, "SELECT nope FROM customer.profile")
            .await
            .expect_err("bad");
        assert!(
            err.contains("InvalidArgument") || err.contains("invalid"),
            "{err}"
        );
        assert!(err.contains("nope"), "{err}");
        let err = query(&mut ann, "CREATE TAG customer.x KIND banana AS 1")
            .await
            .expect_err("bad");
        assert!(err.contains("query:1:") && err.contains('^'), "{err}");

        // Prepared statements with parameters, `$1` and `?` styles.
        let mut st = ann
            .prepare(
                "SELECT customer_id FROM customer.profile WHERE orders_30d >= $1 ORDER BY 1".into(),
                None,
            )
            .await
            .expect("prepare");
        assert_eq!(st.parameter_schema().expect("params").fields().len(), 1);
        assert_eq!(
            st.dataset_schema().expect("dataset").field(0).name(),
            "customer_id"
        );
        let params = RecordBatch::try_from_iter(vec![(
            "$1",
            Arc::new(Int64Array::from(vec![2])) as ArrayRef,
        )])
        .expect("params");
        st.set_parameters(params).expect("bind");
        let info = st.execute().await.expect("execute prepared");
        let b = fetch(&mut ann, info).await;
        assert_eq!(rows(&b), vec!["C1"]);
        st.close().await.expect("close");
        let mut st = ann
            .prepare(
                "SELECT count(*) FROM customer.profile WHERE gender = ?".into(),
                None,
            )
            .await
            .expect("prepare ?");
        st.set_parameters(
            RecordBatch::try_from_iter(vec![(
                "0",
                Arc::new(StringArray::from(vec!["女"])) as ArrayRef,
            )])
            .expect("params"),
        )
        .expect("bind");
        let info = st.execute().await.expect("execute ?");
        let b = fetch(&mut ann, info).await;
        assert_eq!(rows(&b), vec!["2"]);

        // Metadata: SqlInfo, schemas, tables with their schemas, primary keys, types.
        let info = ann
            .get_sql_info(vec![SqlInfo::FlightSqlServerName])
            .await
            .expect("sql info");
        let b = fetch(&mut ann, info).await;
        assert!(rows(&b)[0].contains("TagFusion"), "{:?}", rows(&b));
        // The DSL's keywords, from the list the REPL completes (IDENTITY GRAPH had drifted).
        let info = ann
            .get_sql_info(vec![SqlInfo::SqlKeywords])
            .await
            .expect("sql info");
        let keywords = rows(&fetch(&mut ann, info).await).join(" ");
        for word in [
            "ENTITY", "SEGMENT", "IDENTITY", "GRAPH", "BLOCK", "PRIORITY",
        ] {
            assert!(keywords.contains(word), "{word} in {keywords}");
        }
        let info = ann
            .get_db_schemas(CommandGetDbSchemas {
                catalog: None,
                db_schema_filter_pattern: Some("cust%".into()),
            })
            .await
            .expect("schemas");
        let b = fetch(&mut ann, info).await;
        assert_eq!(rows(&b), vec!["datafusion|customer"]);
        let info = ann
            .get_tables(CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: Some("customer".into()),
                table_name_filter_pattern: None,
                table_types: vec![],
                include_schema: true,
            })
            .await
            .expect("tables");
        let b = fetch(&mut ann, info).await;
        let names: Vec<String> = rows(&b)
            .iter()
            .map(|r| r.split('|').take(4).collect::<Vec<_>>().join("|"))
            .collect();
        assert!(
            names.contains(&"datafusion|customer|profile|TABLE".to_string())
                || names.contains(&"datafusion|customer|profile|VIEW".to_string()),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("datafusion|customer|shoppers|")),
            "{names:?}"
        );
        let schema_col = b[0].column_by_name("table_schema").expect("table_schema");
        assert!(!schema_col.is_empty() && !schema_col.is_null(0));
        let info = ann
            .get_primary_keys(CommandGetPrimaryKeys {
                catalog: None,
                db_schema: Some("customer".into()),
                table: "profile_history".into(),
            })
            .await
            .expect("pk");
        let b = fetch(&mut ann, info).await;
        assert_eq!(
            rows(&b),
            vec![
                "datafusion|customer|profile_history|customer_id|profile_history_pkey|1",
                "datafusion|customer|profile_history|snapshot_at|profile_history_pkey|2"
            ]
        );
        for info in [
            ann.get_table_types().await.expect("types"),
            ann.get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None })
                .await
                .expect("xdbc"),
            ann.get_catalogs().await.expect("catalogs"),
        ] {
            let b = fetch(&mut ann, info).await;
            assert!(!rows(&b).is_empty());
        }
        // Updates: DDL through DoPut.
        let n = ann
            .execute_update(
                "CREATE SEGMENT customer.big AS spend_30d >= 100".into(),
                None,
            )
            .await
            .expect("update");
        assert_eq!(n, 0);
        let b = query(&mut ann, "SELECT count(*) FROM customer.big")
            .await
            .expect("big");
        assert_eq!(rows(&b).len(), 1);
        let b = query(
            &mut ann,
            "SELECT user, action FROM tagfusion.audit WHERE action = 'login_failed'",
        )
        .await
        .expect("audit");
        assert_eq!(rows(&b), vec!["ann|login_failed"]);
    });
}

#[test]
fn roles_are_enforced_on_the_plan() {
    assert_roles_are_enforced(&Sandbox::new());
}

/// The same server over a warehouse on S3 (moto on loopback): queries, masking, personas and
/// their audit records, segment DDL.
#[test]
fn the_server_serves_an_s3_warehouse() {
    let s3 = crate::s3_support::S3Server::start();
    s3.create_bucket("served");
    assert_roles_are_enforced(&Sandbox::on_s3(&s3, "served", "warehouse"));
}

fn assert_roles_are_enforced(s: &Sandbox) {
    let server = start(s, &[]);
    runtime().block_on(async {
        let mut vic = client(&server.addr, "vic", "vic-pw").await;
        // Sensitive values are masked however they are reached.
        for sql in [
            "SELECT home_city FROM customer.profile ORDER BY customer_id",
            "SELECT p.home_city FROM customer.profile p JOIN customers c ON c.customer_id = p.customer_id ORDER BY p.customer_id",
            "WITH x AS (SELECT * FROM customer.profile) SELECT home_city FROM x ORDER BY customer_id",
            "SELECT home_city FROM customer_cities ORDER BY customer_id",
            "SELECT city_name FROM customers ORDER BY customer_id",
            "SELECT (SELECT max(city_name) FROM customers) FROM customer.profile LIMIT 4",
            "SELECT home_city FROM customer.profile_history ORDER BY customer_id",
        ] {
            let b = query(&mut vic, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(rows(&b), vec!["******"; 4], "{sql}");
        }
        // A filter sees the masked value: nothing leaks through predicates.
        let b = query(&mut vic, "SELECT count(*) FROM customers WHERE city_name = '上海'").await.expect("count");
        assert_eq!(rows(&b), vec!["0"]);
        // Other columns are intact.
        let b = query(&mut vic, "SELECT gender FROM customer.profile ORDER BY customer_id").await.expect("gender");
        assert_eq!(rows(&b), vec!["女", "男", "女", "男"]);
        // No personas, no writes, no DDL.
        for (sql, needle) in [
            ("PERSONA customer 'C1'", "role viewer may not look up personas"),
            ("SELECT * FROM persona('customer', 'C1')", "role viewer may not look up personas"),
            ("CREATE SEGMENT customer.x AS important", "role viewer may not create or drop segments"),
            ("COPY (SELECT * FROM customer.profile) TO '/tmp/x.csv'", "role viewer may not write files"),
            ("CREATE TAG customer.y AS 1", "role viewer may not create, alter or drop tags"),
            ("SET datafusion.execution.batch_size = 1", "role viewer may not change session settings"),
        ] {
            let err = query(&mut vic, sql).await.expect_err(sql);
            assert!(err.contains(needle), "{sql}: {err}");
            assert!(err.contains("PermissionDenied") || err.contains("permission"), "{sql}: {err}");
        }
        // Segment profiles: groups under --min-group-size 2 are suppressed.
        let b = query(&mut vic, "SELECT value, segment_count FROM segment_profile('customer.shoppers', 'gender') ORDER BY value")
            .await
            .expect("profile");
        assert_eq!(rows(&b), vec!["女|2"]);

        let mut bob = client(&server.addr, "bob", "bob-pw").await;
        // Analysts see sensitive data, look up personas (audited), manage segments, no tag DDL.
        let b = query(&mut bob, "SELECT home_city FROM customer.profile WHERE customer_id = 'C1'").await.expect("analyst");
        assert_eq!(rows(&b), vec!["上海"]);
        let b = query(&mut bob, "PERSONA customer 'C1'").await.expect("persona");
        assert!(!rows(&b).is_empty());
        query(&mut bob, "CREATE SEGMENT customer.women AS gender = '女'").await.expect("segment");
        for (sql, needle) in [
            ("CREATE TAG customer.y AS 1", "role analyst may not create, alter or drop tags"),
            ("REFRESH ENTITY customer", "role analyst may not refresh profiles"),
            ("COPY (SELECT * FROM customer.women) TO '/tmp/women.csv'", "role analyst may not write files"),
            ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "role analyst may not create or drop tables"),
        ] {
            let err = query(&mut bob, sql).await.expect_err(sql);
            assert!(err.contains(needle), "{sql}: {err}");
        }
        let mut ann = client(&server.addr, "ann", "ann-pw:1").await;
        let b = query(&mut ann, "SELECT user, action, object FROM tagfusion.audit WHERE action = 'persona'").await.expect("audit");
        assert_eq!(rows(&b), vec!["bob|persona|customer"]);

        // Identity graphs: admins build them; analysts read raw identifiers, viewers masked ones.
        query(&mut ann, "CREATE IDENTITY GRAPH people FROM (SELECT customer_id, city_name FROM customers)")
            .await
            .expect("graph");
        query(&mut ann, "REFRESH IDENTITY GRAPH people").await.expect("refresh graph");
        let err = query(&mut bob, "REFRESH IDENTITY GRAPH people").await.expect_err("analyst refresh");
        assert!(err.contains("role analyst may not create, refresh or drop identity graphs"), "{err}");
        let ids = "SELECT id FROM identity.people WHERE id_type = 'customer_id' ORDER BY id";
        let b = query(&mut bob, ids).await.expect("analyst ids");
        assert_eq!(rows(&b), vec!["C1", "C2", "C3", "C4"]);
        let b = query(&mut vic, ids).await.expect("viewer ids");
        assert_eq!(rows(&b), vec!["******"; 4]);
    });
}

#[test]
fn draft_tags_can_be_hidden_from_non_admins() {
    let s = Sandbox::new();
    let server = start(&s, &["--hide-draft-tags"]);
    runtime().block_on(async {
        let mut ann = client(&server.addr, "ann", "ann-pw:1").await;
        query(&mut ann, "ALTER TAG customer.gender SET STATUS approved")
            .await
            .expect("approve");
        // gender is approved, orders_30d still a draft.
        let sql = "SELECT gender, orders_30d FROM customer.profile WHERE customer_id = 'C1'";
        let mut bob = client(&server.addr, "bob", "bob-pw").await;
        assert_eq!(
            rows(&query(&mut bob, sql).await.expect("analyst")),
            vec!["女|NULL"]
        );
        assert_eq!(
            rows(&query(&mut ann, sql).await.expect("admin")),
            vec!["女|3"]
        );

        // Another process changes the warehouse (a scheduled refresh, a new segment): the
        // server picks it up within seconds.
        s.ok(&[
            "run",
            "-c",
            "CREATE SEGMENT customer.from_cli AS orders_30d = 0",
            "-c",
            "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-02 00:00:00'",
        ]);
        // The CLI's commits land one by one (segment, then the refresh's tables and its
        // record): wait until the server shows the last of them.
        let (mut seen, mut snapshots) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let history = "SELECT count(DISTINCT snapshot_at) FROM customer.profile_history";
            if let (Ok(a), Ok(b)) = (
                query(&mut ann, "SELECT count(*) FROM customer.from_cli").await,
                query(&mut ann, history).await,
            ) {
                (seen, snapshots) = (rows(&a), rows(&b));
                if snapshots == ["2"] {
                    break;
                }
            }
        }
        assert_eq!(seen, vec!["1"]);
        assert_eq!(snapshots, vec!["2"]);
    });
}

const ADBC_PY: &str = r#"
import json, sys
import adbc_driver_flightsql.dbapi as fsql
addr, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with fsql.connect(f"grpc://{addr}", db_kwargs={"username": user, "password": password}, autocommit=True) as conn:
    cur = conn.cursor()
    cur.execute("SELECT customer_id, orders_30d FROM customer.profile WHERE orders_30d >= ? ORDER BY customer_id", (1,))
    out["prepared"] = cur.fetch_arrow_table().to_pylist()
    cur.execute("SHOW SEGMENTS FOR customer")
    out["segments"] = sorted(r["segment"] for r in cur.fetch_arrow_table().to_pylist())
    cur.execute("SELECT home_city FROM customer.profile ORDER BY customer_id")
    out["home_city"] = [r["home_city"] for r in cur.fetch_arrow_table().to_pylist()]
    try:
        cur.execute("PERSONA customer 'C1'")
        out["persona"] = len(cur.fetch_arrow_table())
    except Exception as e:
        out["persona"] = str(e)
    objects = conn.adbc_get_objects(depth="all", db_schema_filter="customer").read_all().to_pylist()
    tables = []
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            for t in schema["db_schema_tables"] or []:
                tables.append([schema["db_schema_name"], t["table_name"], len(t["table_columns"] or [])])
    out["tables"] = sorted(tables)
    schema = conn.adbc_get_table_schema("profile", db_schema_filter="customer")
    out["profile_columns"] = schema.names
    cur.close()
print(json.dumps(out, ensure_ascii=False))
sys.stdout.flush()
"#;

#[test]
fn adbc_python_driver_connects_queries_prepares_and_lists_objects() {
    let s = Sandbox::new();
    let server = start(&s, &[]);
    let run = |user: &str, password: &str| -> serde_json::Value {
        let out = Command::new(python())
            .args(["-c", ADBC_PY, &server.addr, user, password])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let ann = run("ann", "ann-pw:1");
    assert_eq!(
        ann["prepared"],
        serde_json::json!([
            {"customer_id": "C1", "orders_30d": 3},
            {"customer_id": "C2", "orders_30d": 1},
            {"customer_id": "C3", "orders_30d": 1}
        ])
    );
    assert_eq!(ann["segments"], serde_json::json!(["shoppers"]));
    assert_eq!(
        ann["home_city"],
        serde_json::json!(["上海", "北京", "上海", "广州"])
    );
    assert!(
        ann["persona"].as_u64().is_some_and(|n| n > 0),
        "{}",
        ann["persona"]
    );
    let tables = ann["tables"].as_array().expect("tables");
    assert!(
        tables
            .iter()
            .any(|t| t[1] == "profile" && t[2].as_u64().unwrap_or(0) > 5),
        "{tables:?}"
    );
    assert!(tables.iter().any(|t| t[1] == "shoppers"), "{tables:?}");
    let columns = ann["profile_columns"].as_array().expect("columns");
    assert!(columns.iter().any(|c| c == "home_city"), "{columns:?}");
    let vic = run("vic", "vic-pw");
    assert_eq!(
        vic["home_city"],
        serde_json::json!(["******", "******", "******", "******"])
    );
    assert!(
        vic["persona"]
            .as_str()
            .is_some_and(|e| e.contains("may not look up personas")),
        "{}",
        vic["persona"]
    );
}

#[test]
fn timeouts_busy_slots_and_disconnects_leave_the_server_serving() {
    let s = Sandbox::new();
    let server = start(
        &s,
        &[
            "--max-concurrent",
            "1",
            "--queue-wait",
            "1s",
            "--query-timeout",
            "3s",
        ],
    );
    runtime().block_on(async {
        let mut ann = client(&server.addr, "ann", "ann-pw:1").await;
        // Past the query timeout: stopped with DEADLINE_EXCEEDED.
        let err = query(
            &mut ann,
            "SELECT count(*) FROM generate_series(1, 50000000000)",
        )
        .await
        .expect_err("timeout");
        assert!(err.contains("query timeout"), "{err}");
        // A result being streamed holds the only slot: another client is told the server is busy.
        let info = ann
            .execute("SELECT * FROM generate_series(1, 2000000000)".into(), None)
            .await
            .expect("start");
        let mut stream = ann
            .do_get(info.endpoint[0].ticket.clone().expect("ticket"))
            .await
            .expect("get");
        use futures::StreamExt;
        assert!(stream.next().await.is_some_and(|b| b.is_ok()));
        let mut bob = client(&server.addr, "bob", "bob-pw").await;
        let err = query(&mut bob, "SELECT 1").await.expect_err("busy");
        assert!(err.contains("running 1 statements"), "{err}");
        // The client goes away mid-stream: its query is cancelled and the slot freed.
        drop(stream);
        drop(ann);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let b = query(&mut bob, "SELECT 41 + 1")
            .await
            .expect("served again");
        assert_eq!(rows(&b), vec!["42"]);
    });
}

#[test]
fn tls_and_the_loopback_rule() {
    // Without a users file only loopback is allowed.
    let plain = Sandbox::new();
    let out = plain.run(&["serve", "--addr", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without --users"),
        "{err}"
    );

    let s = Sandbox::new();
    // A test CA and a server certificate for localhost it signs.
    let (ca, cert, key) = (s.path("ca.pem"), s.path("cert.pem"), s.path("key.pem"));
    let dir = s.dir.path();
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out server.csr
        printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile ext.cnf -out cert.pem";
    let ok = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let server = start(
        &s,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = server
        .addr
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let pem = std::fs::read(&ca).expect("ca");
    runtime().block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem))
            .domain_name("localhost");
        let channel = tonic::transport::Endpoint::from_shared(format!("https://localhost:{port}"))
            .expect("endpoint")
            .tls_config(tls)
            .expect("tls")
            .connect()
            .await
            .expect("connect over TLS");
        let mut c = FlightSqlServiceClient::new(channel);
        c.handshake("ann", "ann-pw:1")
            .await
            .expect("login over TLS");
        let b = query(&mut c, "SELECT count(*) FROM customer.profile")
            .await
            .expect("query");
        assert_eq!(rows(&b), vec!["4"]);
        // Plain text is refused.
        let plain = tonic::transport::Endpoint::from_shared(format!("http://localhost:{port}"))
            .expect("endpoint")
            .connect()
            .await;
        if let Ok(channel) = plain {
            let mut c = FlightSqlServiceClient::new(channel);
            assert!(c.handshake("ann", "ann-pw:1").await.is_err());
        }
    });
}

/// Peak resident memory of a process, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

#[test]
fn load_32_concurrent_clients_without_errors() {
    let seconds: u64 = std::env::var("TAGFUSION_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let s = Sandbox::new();
    let server = start(&s, &[]);
    let pid = server.child.id();
    let (latencies, errors, elapsed) = runtime().block_on(async {
        // Everyone logs in first; then all run the mix for the same window.
        let mut clients = Vec::new();
        for i in 0..32 {
            let (user, _, password) = USERS[i % 3];
            clients.push((i, user, client(&server.addr, user, password).await));
        }
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for (i, user, mut c) in clients {
            tasks.push(tokio::spawn(async move {
                let mix = [
                    "SELECT count(*) FROM customer.shoppers",
                    "SELECT * FROM customer.profile WHERE customer_id = 'C2'",
                    "SHOW TAGS FOR customer",
                    "SELECT gender, count(*), avg(spend_30d) FROM customer.profile GROUP BY gender",
                    "SELECT tag, value, tgi FROM segment_profile('customer.shoppers', 'gender')",
                    "PERSONA customer 'C3'",
                ];
                let mut latencies = Vec::new();
                let mut errors = Vec::new();
                let mut n = i;
                while tokio::time::Instant::now() < deadline {
                    let sql = mix[n % mix.len()];
                    n += 1;
                    if sql.starts_with("PERSONA") && user == "vic" {
                        continue;
                    }
                    let t = std::time::Instant::now();
                    match query(&mut c, sql).await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(e) => errors.push(format!("{user}: {sql}: {e}")),
                    }
                }
                (latencies, errors)
            }));
        }
        let mut latencies = Vec::new();
        let mut errors = Vec::new();
        for t in tasks {
            let (l, e) = t.await.expect("client task");
            latencies.extend(l);
            errors.extend(e);
        }
        (latencies, errors, started.elapsed().as_secs_f64())
    });
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    let rss = peak_rss(pid);
    println!(
        "load: 32 clients, {seconds} s: {} statements, {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, server peak RSS {} MB, {} errors",
        ms.len(),
        ms.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        rss >> 20,
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(ms.len() >= 32, "every client got answers");
    assert!(
        rss < 2 << 30,
        "server memory stayed bounded: {} MB",
        rss >> 20
    );
}

/// `… WHERE orders > 0 AND orders > 0 AND …` with `n` conditions.
fn long_where(n: usize) -> String {
    let conditions = vec!["orders > 0"; n].join(" AND ");
    format!("SELECT count(*) FROM generate_series(1, 10) t(orders) WHERE {conditions}")
}

#[test]
fn deep_expressions_are_answered_or_refused_and_the_server_keeps_serving() {
    let s = Sandbox::new();
    let server = start(&s, &[]);
    runtime().block_on(async {
        // A viewer: any user who can connect.
        let mut vic = client(&server.addr, "vic", "vic-pw").await;
        for n in [3_000, 10_000] {
            let b = query(&mut vic, &long_where(n)).await.expect("long WHERE");
            assert_eq!(rows(&b), vec!["10"], "{n} ANDs");
        }
        // 10,000 ORs of IDs, as segment tools generate them.
        let ids: Vec<String> = (1..=10_000).map(|i| format!("orders = {i}")).collect();
        let sql = format!(
            "SELECT count(*) FROM generate_series(1, 20000) t(orders) WHERE {}",
            ids.join(" OR ")
        );
        assert_eq!(
            rows(&query(&mut vic, &sql).await.expect("ORs")),
            vec!["10000"]
        );
        // 10,000 nested parentheses: refused with the limit named.
        let nested = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let err = query(&mut vic, &nested).await.expect_err("too deep");
        assert!(err.contains("nest more than 200 levels"), "{err}");
        // A 10,000-term sum (not rebalanced): refused with the limit named.
        let sum = format!("SELECT {}", vec!["1"; 10_000].join(" + "));
        let err = query(&mut vic, &sum).await.expect_err("too deep");
        assert!(err.contains("more than 1000 operators deep"), "{err}");
        // Past the operator limit: refused before it is parsed.
        let err = query(&mut vic, &long_where(60_000))
            .await
            .expect_err("too long");
        assert!(err.contains("more than 100000 operators"), "{err}");
        // Still serving: on this connection and on a new one.
        assert_eq!(
            rows(&query(&mut vic, "SELECT 41 + 1").await.expect("same")),
            vec!["42"]
        );
        let mut bob = client(&server.addr, "bob", "bob-pw").await;
        let b = query(&mut bob, "SELECT count(*) FROM customer.profile")
            .await
            .expect("new");
        assert_eq!(rows(&b).len(), 1);
    });
}

#[test]
fn errors_map_to_grpc_codes_by_kind() {
    let s = Sandbox::new();
    let server = start(&s, &["--memory-limit", "8M"]);
    runtime().block_on(async {
        let mut ann = client(&server.addr, "ann", "ann-pw:1").await;
        let code_of =
            |r: Result<arrow_flight::FlightInfo, arrow_flight::error::FlightError>| match r {
                Err(arrow_flight::error::FlightError::Tonic(status)) => status.code(),
                other => panic!("expected a status, got {other:?}"),
            };
        // Past the memory limit with nothing to spill (a hash join's build side).
        let joined = "SELECT count(*) FROM generate_series(1, 3000000) a(x) \
                      JOIN generate_series(1, 3000000) b(y) ON x = y";
        let info = ann.execute(joined.into(), None).await;
        let code = match info {
            Ok(info) => {
                let ticket = info.endpoint[0].ticket.clone().expect("ticket");
                match ann.do_get(ticket).await {
                    Err(arrow_flight::error::FlightError::Tonic(status)) => status.code(),
                    Err(e) => panic!("{e}"),
                    Ok(stream) => {
                        let r: Result<Vec<RecordBatch>, _> = stream.try_collect().await;
                        match r {
                            Err(arrow_flight::error::FlightError::Tonic(status)) => status.code(),
                            other => panic!("expected resources exhausted, got {other:?}"),
                        }
                    }
                }
            }
            Err(e) => code_of(Err(e)),
        };
        assert_eq!(code, tonic::Code::ResourceExhausted);
        // The user's input.
        let r = ann
            .execute("SELECT nosuch FROM customer.profile".into(), None)
            .await;
        assert_eq!(code_of(r), tonic::Code::InvalidArgument);
        // A refusal.
        let mut vic = client(&server.addr, "vic", "vic-pw").await;
        let r = vic.execute("DROP TAG customer.gender".into(), None).await;
        assert_eq!(code_of(r), tonic::Code::PermissionDenied);
    });
}

/// Commits of the audit table so far (its Delta log's commit files).
fn audit_commits(s: &Sandbox) -> usize {
    std::fs::read_dir(s.warehouse().join("_catalog/audit/_delta_log"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

/// 48 persona lookups at once, the server killed (SIGKILL) the moment the last answer arrives:
/// every answered lookup is in `tagfusion.audit` (a record is durable before its answer), and
/// the 48 records took far fewer than 48 commits (group commit).
#[test]
fn answered_personas_are_audited_in_shared_commits_even_when_killed() {
    let s = Sandbox::new();
    let mut server = start(&s, &[]);
    let before = audit_commits(&s);
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..48 {
            let addr = server.addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = client(&addr, "bob", "bob-pw").await;
                let key = format!("C{}", i % 4 + 1);
                query(&mut c, &format!("PERSONA customer '{key}'"))
                    .await
                    .expect("persona");
            }));
        }
        for t in tasks {
            t.await.expect("lookup");
        }
    });
    server.child.kill().expect("kill the server");
    let _ = server.child.wait();
    let commits = audit_commits(&s) - before;
    assert!(commits < 48, "{commits} commits for 48 lookups");
    let audited = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) FROM tagfusion.audit WHERE action = 'persona' AND \"user\" = 'bob'",
    ]);
    assert_eq!(audited.lines().nth(1), Some("48"), "{audited}");
}
