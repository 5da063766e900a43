//! A deterministic synthetic retail data set: customers, stores, orders over two years and app
//! events, written as Parquet. The same `customers` and seed always give the same files,
//! whatever the number of threads that draw them.
//!
//! Who the customers are shapes how they shop (see [`model`]): a segment profile of the demo
//! shows differences by age band, city tier and member level.

mod model;

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::{Scope, ScopedJoinHandle};

use chrono::NaiveDateTime;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ordered;
use crate::error::{Error, Result};
use model::World;

/// The data covers the two years before this instant; the demo refreshes as of it.
pub const DATA_END: &str = "2026-07-01 00:00:00";
/// Days in the data's window.
const DAYS: i64 = 730;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Customers drawn (from one random stream) and written together.
const CHUNK: usize = 20_000;

/// The tables, each a directory with one Parquet file.
pub const TABLES: [&str; 4] = ["customers", "stores", "orders", "app_events"];

/// Cities with their centre coordinates.
pub const CITIES: &[(&str, f64, f64)] = &[
    ("上海", 31.2304, 121.4737),
    ("北京", 39.9042, 116.4074),
    ("广州", 23.1291, 113.2644),
    ("深圳", 22.5431, 114.0579),
    ("杭州", 30.2741, 120.1551),
    ("成都", 30.5728, 104.0668),
    ("武汉", 30.5928, 114.3055),
    ("南京", 32.0603, 118.7969),
    ("西安", 34.3416, 108.9398),
    ("重庆", 29.5630, 106.5516),
    ("苏州", 31.2989, 120.5853),
    ("长沙", 28.2282, 112.9388),
    ("厦门", 24.4798, 118.0894),
    ("昆明", 25.0389, 102.7183),
];
/// Product categories with their mean order amount (元) before the customer's multipliers.
const CATEGORIES: [(&str, f64); 8] = [
    ("服饰", 260.0),
    ("美妆", 180.0),
    ("食品", 60.0),
    ("数码", 1500.0),
    ("家居", 320.0),
    ("母婴", 210.0),
    ("运动", 380.0),
    ("图书", 55.0),
];
/// Order channels.
const CHANNELS: [&str; 4] = ["app", "mini_program", "web", "store"];
/// App event kinds.
const EVENTS: &[&str] = &["launch", "view", "search", "add_cart", "share"];

/// [`DATA_END`] as a timestamp.
fn data_end() -> NaiveDateTime {
    NaiveDateTime::parse_from_str(DATA_END, "%Y-%m-%d %H:%M:%S").unwrap_or_default()
}

/// One Parquet file, zstd-compressed.
struct ParquetSink {
    writer: ArrowWriter<File>,
}

impl ParquetSink {
    fn create(dir: &Path, schema: SchemaRef) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join("part-0.parquet");
        let file = File::create(&path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).map_err(|e| Error::invalid(e.to_string()))?,
            ))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| Error::invalid(e.to_string()))?;
        Ok(Self { writer })
    }
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| Error::invalid(format!("writing demo data: {e}")))
    }
    fn close(self) -> Result<()> {
        self.writer
            .close()
            .map_err(|e| Error::invalid(format!("writing demo data: {e}")))?;
        Ok(())
    }
}

/// Timestamps: microseconds, no time zone.
fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// The columns of `customers`: one row per customer, `customer_id` C000001, C000002, …
pub fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("sex", DataType::Utf8, true),
        Field::new("birth_date", DataType::Date32, true),
        Field::new("city_name", DataType::Utf8, true),
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("signup_at", ts_type(), true),
        Field::new("member_level_code", DataType::Int32, true),
        Field::new("phone", DataType::Utf8, true),
    ]))
}

/// The columns of `orders`: `order_id` 1, 2, … in customer order.
pub fn orders_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("store_id", DataType::Utf8, true),
        Field::new("ts", ts_type(), false),
        Field::new("amount", DataType::Float64, false),
        Field::new("discount", DataType::Float64, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
    ]))
}

/// The columns of `stores`.
pub fn stores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("store_id", DataType::Utf8, false),
        Field::new("city_name", DataType::Utf8, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("opened_at", ts_type(), false),
    ]))
}

/// The columns of `app_events`: one row per app session.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("event", DataType::Utf8, false),
    ]))
}

/// App logins (device, phone), made from the customers with SQL: 70% of customers use the app
/// on one or two devices, their phone written one of three ways (`13812345678`,
/// `+86 13812345678`, `138-1234-5678`) and missing on one login in ten (guests); 3% share a
/// family tablet with about two others; 1% of devices are the QA team's, logged in with the test
/// phone `13800000000`. Every draw is an `ab_group` hash, so every run makes the same rows.
pub fn app_logins_sql(customers: usize) -> String {
    let families = (customers / 100).max(1);
    format!(
        "SELECT device_id, phone FROM ( \
           SELECT 'dev-' || substr(md5(customer_id || '/' || CAST(k AS VARCHAR)), 1, 12) AS device_id, \
                  CASE WHEN ab_group(customer_id || CAST(k AS VARCHAR), 'guest', 10) = 0 THEN NULL \
                       WHEN ab_group(customer_id, 'phone_format', 3) = 0 THEN phone \
                       WHEN ab_group(customer_id, 'phone_format', 3) = 1 THEN '+86 ' || phone \
                       ELSE substr(phone, 1, 3) || '-' || substr(phone, 4, 4) || '-' || substr(phone, 8) END AS phone \
           FROM customers CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 AS k) AS devices \
           WHERE ab_group(customer_id, 'app_user', 10) < 7 AND k <= 1 + ab_group(customer_id, 'devices', 2) \
           UNION ALL \
           SELECT 'fam-' || CAST(ab_group(customer_id, 'family', {families}) AS VARCHAR), phone \
           FROM customers WHERE ab_group(customer_id, 'family_member', 100) < 3 \
           UNION ALL \
           SELECT 'qa-' || CAST(ab_group(customer_id, 'qa', 50) AS VARCHAR), '13800000000' \
           FROM customers WHERE ab_group(customer_id, 'qa_device', 100) = 0 \
         ) ORDER BY device_id, phone"
    )
}

/// Counts of what was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    pub customers: usize,
    pub stores: usize,
    pub orders: usize,
    pub events: usize,
}

/// How the customers are split for generation: customers per chunk (part of what the data is)
/// and worker threads (not: any number gives the same files).
#[derive(Debug, Clone, Copy)]
struct Plan {
    chunk: usize,
    workers: usize,
}

/// Writes `customers/`, `stores/`, `orders/` and `app_events/` under `dir`. `tick` is called
/// with the number of customers done.
///
/// The stores are drawn from random stream 0 of `seed`; the customers in chunks of [`CHUNK`],
/// chunk `k` with its orders and app events from stream `k + 1`, on one worker thread per
/// core. The chunks are written in order as they are done, a few at most waiting, and
/// `order_id` numbers the orders 1, 2, … in that order, so the files depend on `customers` and
/// `seed` only, and memory does not grow with `customers`.
pub fn generate(
    dir: &Path,
    customers: usize,
    seed: u64,
    tick: impl FnMut(usize),
) -> Result<Generated> {
    let plan = Plan {
        chunk: CHUNK,
        workers: ordered::workers(),
    };
    generate_with(dir, customers, seed, plan, tick)
}

/// [`generate`] with chunks and workers of `plan`.
fn generate_with(
    dir: &Path,
    customers: usize,
    seed: u64,
    plan: Plan,
    mut tick: impl FnMut(usize),
) -> Result<Generated> {
    let window = Window::of_data();
    let stores = generate_stores(dir, &mut ChaCha8Rng::seed_from_u64(seed), window.start)?;
    let world = World::new(window, &stores, seed);
    let mut out = Generated {
        stores: stores.len(),
        ..Generated::default()
    };
    let sinks = [
        ParquetSink::create(&dir.join("customers"), customers_schema())?,
        ParquetSink::create(&dir.join("orders"), orders_schema())?,
        ParquetSink::create(&dir.join("app_events"), events_schema())?,
    ];
    let chunk = plan.chunk.max(1);
    let ids = |k: usize| k * chunk..((k + 1) * chunk).min(customers);
    std::thread::scope(|scope| {
        let [customer_writer, order_writer, event_writer] =
            sinks.map(|sink| TableWriter::spawn(scope, sink));
        let mut next_order_id: i64 = 1;
        let made = ordered::map_ordered(
            customers.div_ceil(chunk),
            plan.workers,
            2 * plan.workers.max(1),
            |k| world.chunk(k, ids(k)),
            |k, rows| {
                order_writer.send(rows.orders_with_ids(next_order_id)?)?;
                next_order_id += rows.order_rows as i64;
                out.orders += rows.order_rows;
                out.events += rows.events.num_rows();
                customer_writer.send(rows.customers)?;
                event_writer.send(rows.events)?;
                out.customers = ids(k).end;
                tick(out.customers);
                Ok(())
            },
        );
        // A writer's own error explains a failed send better than the send does.
        [customer_writer, order_writer, event_writer]
            .map(TableWriter::finish)
            .into_iter()
            .collect::<Result<()>>()
            .and(made)
    })?;
    Ok(out)
}

/// A Parquet file written on its own thread, from batches sent to it in order.
struct TableWriter<'scope> {
    tx: mpsc::SyncSender<RecordBatch>,
    thread: ScopedJoinHandle<'scope, Result<()>>,
}

impl<'scope> TableWriter<'scope> {
    /// Starts writing `sink` on a thread of `scope`; a couple of batches wait at most.
    fn spawn<'env>(scope: &'scope Scope<'scope, 'env>, mut sink: ParquetSink) -> Self {
        let (tx, rx) = mpsc::sync_channel::<RecordBatch>(2);
        let thread = scope.spawn(move || {
            for batch in rx {
                sink.write(&batch)?;
            }
            sink.close()
        });
        TableWriter { tx, thread }
    }

    /// Appends `batch` to the file (waits while the writer is behind).
    fn send(&self, batch: RecordBatch) -> Result<()> {
        self.tx
            .send(batch)
            .map_err(|_| Error::invalid("writing demo data: a Parquet writer stopped"))
    }

    /// Closes the file once every batch sent is written.
    fn finish(self) -> Result<()> {
        drop(self.tx);
        match self.thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// The two years of data: microseconds since the epoch.
struct Window {
    start: i64,
    end: i64,
}

impl Window {
    fn of_data() -> Self {
        let end = data_end().and_utc().timestamp_micros();
        Window {
            start: end - DAYS * MICROS_PER_DAY,
            end,
        }
    }
}

/// A store: its id and the index of its city in [`CITIES`].
struct Store {
    id: String,
    city: usize,
}

/// Writes `stores/`: a few stores per city (more in the first four), near its centre. `rng` is
/// random stream 0 of the seed.
fn generate_stores(dir: &Path, rng: &mut ChaCha8Rng, start: i64) -> Result<Vec<Store>> {
    let mut sink = ParquetSink::create(&dir.join("stores"), stores_schema())?;
    let (mut id, mut city, mut lat, mut lon, mut opened) = (
        StringBuilder::new(),
        StringBuilder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
        TimestampMicrosecondBuilder::new(),
    );
    let mut stores = Vec::new();
    for (c, (name, clat, clon)) in CITIES.iter().enumerate() {
        let n = if c < 4 { 8 } else { 4 };
        for _ in 0..n {
            let s = format!("S{:03}", stores.len() + 1);
            let (la, lo) = (
                clat + rng.random_range(-0.08..0.08),
                clon + rng.random_range(-0.08..0.08),
            );
            id.append_value(&s);
            city.append_value(*name);
            lat.append_value(la);
            lon.append_value(lo);
            opened.append_value(start - rng.random_range(0..1500) * MICROS_PER_DAY);
            stores.push(Store { id: s, city: c });
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(city.finish()),
        Arc::new(lat.finish()),
        Arc::new(lon.finish()),
        Arc::new(opened.finish()),
    ];
    sink.write(&RecordBatch::try_new(stores_schema(), columns)?)?;
    sink.close()?;
    Ok(stores)
}

#[cfg(test)]
mod tests;
