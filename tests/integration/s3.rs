//! S3 end to end against a real S3 server on loopback (moto): source tables and the warehouse
//! on S3, read back by Python's deltalake, the demo, a server cut off mid-refresh, two
//! processes refreshing at once, and the failures users meet first. The SQL behaviour of the
//! core (tests/slt) runs on S3 too: the sqllogictest runner runs every file on both.

use std::process::{Output, Stdio};

use super::warehouse::{assert_python_reads_the_fixture_history, read_with_python};
use super::{Sandbox, setup_sql, tags_sql};
use crate::s3_support::{FaultProxy, S3Server, aws_env};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The error of a failed run: its first line, after checking it failed without a panic or a
/// stack trace, and that nothing but the statement's caret follows.
fn one_clear_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let text = stderr(out);
    assert!(
        !text.contains("panicked") && !text.contains("backtrace") && !text.contains("Custom {"),
        "{text}"
    );
    assert!(text.lines().count() <= 4, "more than an error line: {text}");
    let first = text.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{text}");
    first
}

fn lines(csv: &str) -> Vec<String> {
    csv.lines().map(str::to_string).collect()
}

#[test]
fn sources_and_warehouse_on_s3_with_per_table_options() {
    let server = S3Server::start();
    server.create_bucket("warehouse");
    server.create_bucket("facts");
    let s = Sandbox::on_s3(&server, "warehouse", "retail");

    // Facts to S3 in three formats, exported from the local fixture files.
    let local = s.write("local.sql", &setup_sql());
    s.ok(&[
        "run",
        local.to_str().unwrap_or_default(),
        "-c",
        "COPY customers TO 's3://facts/customers/part-0.parquet' STORED AS PARQUET",
        "-c",
        "COPY orders TO 's3://facts/orders/part-0.csv' STORED AS CSV",
        "-c",
        "COPY orders TO 's3://facts/orders_json/part-0.json' STORED AS JSON",
    ]);
    // The same tables, now over S3; the fixture's entity, tags and two refreshes on them.
    let on_s3 = "CREATE OR REPLACE EXTERNAL TABLE customers STORED AS PARQUET LOCATION 's3://facts/customers/';
         CREATE OR REPLACE EXTERNAL TABLE orders (order_id BIGINT, customer_id VARCHAR, ts TIMESTAMP, amount DOUBLE, category VARCHAR)
           STORED AS CSV LOCATION 's3://facts/orders/' OPTIONS ('format.has_header' 'true');
         CREATE EXTERNAL TABLE orders_json STORED AS JSON LOCATION 's3://facts/orders_json/';";
    let setup = s.write("s3.sql", &format!("{on_s3}\n{}", tags_sql()));
    s.ok(&[
        "run",
        setup.to_str().unwrap_or_default(),
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-06-20 00:00:00'",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
    let totals = s.ok(&[
        "run",
        "-c",
        "SELECT (SELECT count(*) FROM orders) AS csv, (SELECT count(*) FROM orders_json) AS json",
    ]);
    assert_eq!(lines(&totals), ["csv,json", "7,7"]);
    // The profile history on S3 reads back the same with Python's deltalake.
    assert_python_reads_the_fixture_history(&s);

    // A table in another S3 service: its aws.* OPTIONS override the environment for its bucket.
    let partner = S3Server::start();
    partner.create_bucket("partner");
    let exporter = Sandbox {
        env: aws_env(&partner.endpoint()),
        ..Sandbox::new()
    };
    exporter.ok(&[
        "run",
        local.to_str().unwrap_or_default(),
        "-c",
        "COPY orders TO 's3://partner/orders/part-0.parquet' STORED AS PARQUET",
    ]);
    let without = s.run(&[
        "run",
        "-c",
        "CREATE EXTERNAL TABLE partner_orders STORED AS PARQUET LOCATION 's3://partner/orders/'",
    ]);
    let line = one_clear_error(&without);
    assert!(
        line.contains("S3 bucket 'partner' does not exist"),
        "{line}"
    );
    let create = format!(
        "CREATE EXTERNAL TABLE partner_orders STORED AS PARQUET LOCATION 's3://partner/orders/' \
         OPTIONS ('aws.endpoint' '{}', 'aws.allow_http' 'true', \
                  'aws.access_key_id' 'partner-key', 'aws.secret_access_key' 'partner-secret-123')",
        partner.endpoint()
    );
    let out = s.ok(&[
        "run",
        "-c",
        &create,
        "-c",
        "SELECT count(*) AS n, CAST(sum(amount) AS BIGINT) AS total FROM partner_orders",
        "-c",
        "SELECT sql FROM tagfusion.sources WHERE name = 'partner_orders'",
    ]);
    assert!(out.contains("n,total\n7,"), "{out}");
    // Credentials never reach the catalog; the endpoint does.
    assert!(
        !out.contains("partner-secret-123") && !out.contains("partner-key"),
        "{out}"
    );
    assert!(
        out.contains("<redacted>") && out.contains(&partner.endpoint()),
        "{out}"
    );
    // The next process restores the table (credentials from its environment).
    let again = s.ok(&["run", "-c", "SELECT count(*) AS n FROM partner_orders"]);
    assert_eq!(lines(&again), ["n", "7"]);
}

#[test]
fn demo_runs_on_s3_and_python_reads_its_profile() {
    let server = S3Server::start();
    server.create_bucket("lake");
    let s = Sandbox::on_s3(&server, "lake", "tagfusion/demo");
    let shown = s.ok(&["--format", "table", "demo", "--customers", "120"]);
    assert!(
        shown.contains("s3://lake/tagfusion/demo/demo"),
        "the summary names the S3 location: {shown}"
    );
    let ours = s.ok(&[
        "--format",
        "ndjson",
        "run",
        "-c",
        "SELECT customer_id, rfm_class, orders_180d FROM customer.profile ORDER BY customer_id",
    ]);
    let ours: Vec<serde_json::Value> = ours
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(ours.len(), 120);
    let theirs = read_with_python(
        &s,
        "customer/profile_history",
        &["customer_id", "rfm_class", "orders_180d"],
        "customer_id",
    );
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
    // The generated data lives in the warehouse too: a new process reads it from S3.
    let n = s.ok(&["run", "-c", "SELECT count(*) AS n FROM customers"]);
    assert_eq!(lines(&n), ["n", "120"]);
}

const HISTORY: &str = "SELECT customer_id, orders_30d, spend_30d, CAST(snapshot_at AS VARCHAR) AS at \
                       FROM customer.profile_history ORDER BY at, customer_id";

#[test]
fn server_gone_mid_refresh_keeps_the_previous_snapshot_and_a_retry_succeeds() {
    let server = S3Server::start();
    server.create_bucket("tf-wh");
    let proxy = FaultProxy::start(server.port());
    let s = Sandbox {
        env: aws_env(&proxy.endpoint()),
        ..Sandbox::on_s3(&server, "tf-wh", "cut")
    };
    s.fixture(&["2026-06-20 00:00:00"]);
    let before = s.ok(&["run", "-c", HISTORY]);
    assert_eq!(lines(&before).len(), 5, "{before}");

    // The connection dies as the new snapshot's first data file is being uploaded.
    proxy.cut_at("/profile_history/part-");
    let out = s.run(&[
        "run",
        "-c",
        "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
    assert!(proxy.was_cut(), "the refresh never uploaded a data file");
    let line = one_clear_error(&out);
    assert!(
        line.contains(&format!("cannot reach S3 at {}", proxy.endpoint())),
        "{line}"
    );

    // Back up: the previous snapshot is intact, for the engine and for Python.
    proxy.restore();
    assert_eq!(s.ok(&["run", "-c", HISTORY]), before);
    let python = read_with_python(
        &s,
        "customer/profile_history",
        &["customer_id"],
        "customer_id",
    );
    assert_eq!(python.len(), 4);

    // The same refresh again succeeds.
    s.fixture_refresh("2026-07-01 00:00:00");
    assert_python_reads_the_fixture_history(&s);
}

#[test]
fn two_processes_refreshing_at_once_leave_one_complete_snapshot() {
    let server = S3Server::start();
    server.create_bucket("tf-wh");
    let s = Sandbox::on_s3(&server, "tf-wh", "race");
    s.fixture(&["2026-06-20 00:00:00"]);
    let refresh = "REFRESH ENTITY customer AS OF TIMESTAMP '2026-07-01 00:00:00'";
    let children: Vec<_> = (0..2)
        .map(|_| {
            s.cmd(&["run", "-c", refresh])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn tagfusion")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    assert!(
        succeeded >= 1,
        "neither refresh committed: {}",
        stderr(&outputs[0])
    );
    for out in outputs.iter().filter(|o| !o.status.success()) {
        let line = one_clear_error(out);
        eprintln!("the other refresh failed cleanly: {line}");
    }
    // Each snapshot holds each customer once: nothing doubled, nothing half written.
    let per_snapshot = s.ok(&[
        "run",
        "-c",
        "SELECT CAST(snapshot_at AS VARCHAR) AS at, count(*) AS n, count(DISTINCT customer_id) AS d \
         FROM customer.profile_history GROUP BY 1 ORDER BY 1",
    ]);
    assert_eq!(
        lines(&per_snapshot),
        [
            "at,n,d",
            "2026-06-20T00:00:00Z,4,4",
            "2026-07-01T00:00:00Z,4,4"
        ],
    );
    assert_python_reads_the_fixture_history(&s);
}

#[test]
fn s3_failures_are_one_clear_line() {
    let server = S3Server::start();
    server.create_bucket("tf-wh");

    let missing_bucket = Sandbox::on_s3(&server, "no-such-bucket", "wh");
    let line = one_clear_error(&missing_bucket.run(&["run", "-c", "SELECT 1"]));
    assert!(
        line.contains("S3 bucket 'no-such-bucket' does not exist"),
        "{line}"
    );

    let checking = S3Server::start_checking_credentials();
    let wrong_credentials = Sandbox::on_s3(&checking, "tf-wh", "wh");
    let line = one_clear_error(&wrong_credentials.run(&["run", "-c", "SELECT 1"]));
    assert!(
        line.contains("refused the request (InvalidAccessKeyId)")
            && line.contains("AWS_ACCESS_KEY_ID"),
        "{line}"
    );

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let unreachable = Sandbox {
        env: aws_env(&format!("http://127.0.0.1:{closed_port}")),
        ..Sandbox::on_s3(&server, "tf-wh", "wh")
    };
    let line = one_clear_error(&unreachable.run(&["run", "-c", "SELECT 1"]));
    assert!(
        line.contains(&format!(
            "cannot reach S3 at http://127.0.0.1:{closed_port}"
        )),
        "{line}"
    );

    // A new prefix is an empty warehouse; a source prefix without files is an error.
    let fresh = Sandbox::on_s3(&server, "tf-wh", "brand/new/prefix");
    assert_eq!(
        lines(&fresh.ok(&["run", "-c", "SELECT count(*) AS n FROM tagfusion.entities"])),
        ["n", "0"]
    );
    let line = one_clear_error(&fresh.run(&[
        "run",
        "-c",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://tf-wh/nothing/here/'",
    ]));
    assert!(
        line.contains("No files found at s3://tf-wh/nothing/here/"),
        "{line}"
    );
}
