//! Segment and persona benchmark against DuckDB on the same Parquet files (issue 3).
//!
//!     bash scripts/bench.sh [--customers 1000000] [--runs 5]
//!     (= cargo run --release --features bench --bin tagfusion-bench -- …)
//!
//! Builds (once) a demo warehouse of N customers with the retail template, then times, warm,
//! median of `--runs`:
//! - segment count:            SELECT count(*) FROM customer.high_value
//! - segment profile BY 2 tags: PROFILE SEGMENT customer.high_value BY age_band, city_tier
//! - persona lookup:            PERSONA customer '<key>' (including its audit commit)
//! - key lookup:                SELECT * FROM customer.profile WHERE customer_id = '<key>'
//!
//! and runs the equivalent SQL in DuckDB (Python package, 2 threads) over the Parquet files of
//! the same Delta table in the same run (benches/segment_bench_duckdb.py). It prints both
//! columns and their ratio, and the pruning a key lookup gets (row groups, pages, bytes).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray};
use tagfusion::demo;
use tagfusion::{Engine, EngineOptions};

struct Args {
    customers: usize,
    runs: usize,
    warehouse: PathBuf,
    python: String,
}

fn args() -> Args {
    let mut customers = 1_000_000;
    let mut runs = 5;
    let mut warehouse = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--customers" => {
                customers = it.next().and_then(|v| v.parse().ok()).unwrap_or(customers)
            }
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            "--warehouse" => warehouse = it.next().map(PathBuf::from),
            _ => {}
        }
    }
    let warehouse = warehouse.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench/segments-{customers}"))
    });
    let python = std::env::var("TAGFUSION_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    Args {
        customers,
        runs,
        warehouse,
        python,
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Runs `sql` once to warm up, then `runs` times; median milliseconds.
async fn time(engine: &Engine, runs: usize, sql: impl Fn(usize) -> String) -> f64 {
    let mut times = Vec::new();
    for i in 0..=runs {
        let start = Instant::now();
        let batches = engine.query(&sql(i)).await.expect("query");
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0, "no rows from {}", sql(i));
        if i > 0 {
            times.push(start.elapsed());
        }
    }
    median(times)
}

/// Behaviour aggregates per customer with every result used (an aggregate whose output is unused
/// is removed by the optimizer, and its timing would be false); the row is the checksum compared
/// with DuckDB's (`mode` breaks ties differently, so only its non-NULL count is compared).
const AGGREGATES_SQL: &str = "SELECT count(*) AS customers, sum(n) AS orders, \
    round(sum(s), 2) AS amount, sum(u) AS distinct_categories, count(f) AS with_mode \
    FROM (SELECT customer_id, count(*) AS n, sum(amount) AS s, unique_count(category) AS u, \
    most_frequent(channel) AS f FROM orders GROUP BY customer_id)";

fn key(customers: usize, i: usize) -> String {
    // Spread over the key range; C000001 … (as the demo names them).
    let n = 1 + (customers / 2 + i * 7919 * 13) % customers;
    format!("C{n:06}")
}

#[tokio::main]
async fn main() {
    let a = args();
    let fresh = !a.warehouse.join("customer/profile_history").exists();
    let engine = Engine::open(EngineOptions::new(a.warehouse.display().to_string()))
        .await
        .expect("open warehouse");
    if fresh {
        eprintln!(
            "building a demo warehouse of {} customers in {} …",
            a.customers,
            a.warehouse.display()
        );
        let start = Instant::now();
        demo::prepare(&engine, demo::Industry::Retail, a.customers, |_| {})
            .await
            .expect("demo data and refresh");
        eprintln!("built in {:.1} s", start.elapsed().as_secs_f64());
    }
    let snapshot = engine
        .catalog()
        .latest_snapshot("customer")
        .map(|s| s.snapshot_at)
        .expect("a snapshot");
    let at = snapshot.format("%Y-%m-%d %H:%M:%S").to_string();
    let runs = a.runs;
    let n = a.customers;

    // Segments as bitmaps of dense ids, made once (what a bitmap cache of the latest snapshot
    // would hold): high_value and coupon_lovers.
    engine
        .context()
        .sql(
            "CREATE TABLE bench_bitmaps AS SELECT \
               bitmap_agg(CAST(substr(customer_id, 2) AS INT)) FILTER (WHERE rfm_class IN ('重要价值客户', '重要保持客户')) AS hv, \
               bitmap_agg(CAST(substr(customer_id, 2) AS INT)) FILTER (WHERE coupon_order_share >= 0.5) AS cl \
             FROM customer.profile",
        )
        .await
        .expect("bitmaps")
        .collect()
        .await
        .expect("bitmaps");

    let workloads: Vec<(&str, f64)> = vec![
        (
            "segment count (high_value)",
            time(&engine, runs, |_| {
                "SELECT count(*) FROM customer.high_value".into()
            })
            .await,
        ),
        (
            "segment profile BY age_band, city_tier",
            time(&engine, runs, |_| {
                "PROFILE SEGMENT customer.high_value BY age_band, city_tier".into()
            })
            .await,
        ),
        (
            "persona lookup (PERSONA, audited)",
            time(&engine, runs, |i| {
                format!("PERSONA customer '{}'", key(n, i))
            })
            .await,
        ),
        (
            "key lookup (profile row)",
            time(&engine, runs, |i| {
                format!(
                    "SELECT * FROM customer.profile WHERE customer_id = '{}'",
                    key(n, i)
                )
            })
            .await,
        ),
        (
            "behaviour aggregates per customer (orders)",
            time(&engine, runs, |_| AGGREGATES_SQL.into()).await,
        ),
        (
            "two-segment overlap (bitmaps vs scan)",
            time(&engine, runs, |_| {
                "SELECT bitmap_and_count(hv, cl) FROM bench_bitmaps".into()
            })
            .await,
        ),
    ];

    // What a key lookup reads.
    let explain = engine
        .query(&format!(
            "EXPLAIN ANALYZE SELECT * FROM customer.profile_history \
             WHERE snapshot_at = TIMESTAMP '{at}' AND customer_id = '{}'",
            key(n, 0)
        ))
        .await
        .expect("explain");
    let mut pruning = Vec::new();
    for b in &explain {
        let plans = b.column(1).as_string::<i32>();
        for i in 0..plans.len() {
            for part in plans.value(i).split([',', '\n']) {
                let p = part.trim().trim_start_matches("metrics=[");
                if p.starts_with("row_groups_pruned_statistics")
                    || p.starts_with("page_index_rows_pruned")
                    || p.starts_with("bytes_scanned")
                    || p.starts_with("files_ranges_pruned_statistics")
                {
                    pruning.push(p.to_string());
                }
            }
        }
    }

    // DuckDB on the same Delta table's Parquet files, same queries, same run.
    let keys: Vec<String> = (0..=runs).map(|i| key(n, i)).collect();
    let out = Command::new(&a.python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/segment_bench_duckdb.py"
        ))
        .arg(a.warehouse.join("customer/profile_history"))
        .arg(&at)
        .arg(runs.to_string())
        .arg(keys.join(","))
        .arg(a.warehouse.join("demo/orders"))
        .output()
        .expect("run python with duckdb (bash scripts/bench.sh sets it up)");
    assert!(
        out.status.success(),
        "duckdb side failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("duckdb timings as JSON");

    println!(
        "\nTagFusion vs DuckDB {} — {n} customers, snapshot {at}, median of {runs} warm runs",
        duck["version"].as_str().unwrap_or("?")
    );
    println!(
        "{:<42} {:>12} {:>12} {:>8}",
        "workload", "TagFusion ms", "DuckDB ms", "ratio"
    );
    let names = [
        "count",
        "profile",
        "persona",
        "lookup",
        "aggregates",
        "overlap",
    ];
    for ((label, ours), name) in workloads.iter().zip(names) {
        let theirs = duck[name].as_f64().unwrap_or(f64::NAN);
        println!(
            "{label:<42} {ours:>12.2} {theirs:>12.2} {:>8.2}",
            ours / theirs
        );
    }
    println!("\nKey lookup pruning (EXPLAIN ANALYZE of the persona's scan):");
    for p in pruning {
        println!("  {p}");
    }
    let overlap = engine
        .query("SELECT bitmap_and_count(hv, cl) FROM bench_bitmaps")
        .await
        .expect("overlap");
    println!(
        "DuckDB results agree: overlap {} = {}",
        duck["overlap_rows"],
        overlap[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    );
    let checksum = engine.query(AGGREGATES_SQL).await.expect("aggregates");
    let options = datafusion::arrow::util::display::FormatOptions::default();
    let row: Vec<String> = checksum[0]
        .columns()
        .iter()
        .map(|c| {
            datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options)
                .map(|f| f.value(0).to_string())
                .unwrap_or_default()
        })
        .collect();
    println!(
        "Behaviour aggregates checksum (customers, orders, amount, distinct categories, with mode): \
         TagFusion {row:?}, DuckDB {}",
        duck["aggregates_checksum"]
    );
    println!("DuckDB results agree: count {} = {}", duck["count_rows"], {
        let b = engine
            .query("SELECT count(*) FROM customer.high_value")
            .await
            .expect("count");
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    });
}
