//! Load on a running `tagfusion serve`: N concurrent Flight SQL clients (arrow-flight's client)
//! run a mix of BI-style statements for a fixed time; prints throughput and latency percentiles.
//!
//! ```sh
//! bash scripts/server_load.sh            # builds release, serves the 1M bench warehouse, runs this
//! ```

use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::RecordBatch;
use futures::TryStreamExt;

/// The SQL of the i-th statement of one kind.
type SqlFor = Box<dyn Fn(usize) -> String + Send + Sync>;

struct Args {
    addr: String,
    clients: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:50051".into(),
        clients: 32,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => a.addr = value,
            "--clients" => a.clients = value.parse().unwrap_or(a.clients),
            "--seconds" => a.seconds = value.parse().unwrap_or(a.seconds),
            other => panic!("unknown flag {other}; use --addr --clients --seconds"),
        }
    }
    a
}

async fn run(
    c: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    sql: String,
) -> Result<usize, String> {
    let info = c.execute(sql, None).await.map_err(|e| e.to_string())?;
    let mut rows = 0;
    for e in info.endpoint {
        let batches: Vec<RecordBatch> = c
            .do_get(e.ticket.ok_or("no ticket")?)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    Ok(rows)
}

#[tokio::main]
async fn main() {
    let a = args();
    let mut clients = Vec::new();
    for _ in 0..a.clients {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", a.addr))
            .expect("address")
            .connect()
            .await
            .expect("connect (is `tagfusion serve` running?)");
        let mut c = FlightSqlServiceClient::new(channel);
        c.handshake("bench", "").await.expect("login");
        clients.push(c);
    }
    let mix: Vec<(&str, SqlFor)> = vec![
        (
            "segment count",
            Box::new(|_| "SELECT count(*) FROM customer.high_value".into()),
        ),
        (
            "key lookup",
            Box::new(move |i| {
                format!(
                    "SELECT * FROM customer.profile WHERE customer_id = 'C{:06}'",
                    1 + (i * 7919) % 1_000_000
                )
            }),
        ),
        (
            "group by 2 tags",
            Box::new(|_| {
                "SELECT city_tier, age_band, count(*), avg(spend_365d) FROM customer.profile GROUP BY 1, 2".into()
            }),
        ),
        ("SHOW TAGS", Box::new(|_| "SHOW TAGS FOR customer".into())),
        (
            "persona (audited)",
            Box::new(move |i| format!("PERSONA customer 'C{:06}'", 1 + (i * 104729) % 1_000_000)),
        ),
    ];
    let mix = std::sync::Arc::new(mix);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let mut tasks = Vec::new();
    for (n, mut c) in clients.into_iter().enumerate() {
        let mix = mix.clone();
        tasks.push(tokio::spawn(async move {
            let mut done: Vec<(usize, Duration)> = Vec::new();
            let mut errors = Vec::new();
            let mut i = n;
            while Instant::now() < deadline {
                let kind = i % mix.len();
                let sql = (mix[kind].1)(i);
                i += 1;
                let t = Instant::now();
                match run(&mut c, sql).await {
                    Ok(_) => done.push((kind, t.elapsed())),
                    Err(e) => errors.push(e),
                }
            }
            (done, errors)
        }));
    }
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        let (d, e) = t.await.expect("client");
        done.extend(d);
        errors.extend(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{} clients, {:.0} s: {} statements, {:.1}/s, {} errors",
        a.clients,
        elapsed,
        done.len(),
        done.len() as f64 / elapsed,
        errors.len()
    );
    println!(
        "{:<20} {:>8} {:>10} {:>10}",
        "statement", "count", "p50 ms", "p99 ms"
    );
    let mut all: Vec<f64> = done.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    for (k, (name, _)) in mix.iter().enumerate() {
        let mut v: Vec<f64> = done
            .iter()
            .filter(|(kind, _)| *kind == k)
            .map(|(_, d)| d.as_secs_f64() * 1e3)
            .collect();
        let n = v.len();
        println!(
            "{name:<20} {n:>8} {:>10.1} {:>10.1}",
            pct(&mut v, 0.5),
            pct(&mut v, 0.99)
        );
    }
    println!(
        "{:<20} {:>8} {:>10.1} {:>10.1}",
        "all",
        all.len(),
        pct(&mut all.clone(), 0.5),
        pct(&mut all, 0.99)
    );
    if let Some(e) = errors.first() {
        println!("first error: {e}");
    }
}
