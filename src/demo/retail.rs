//! A deterministic synthetic retail data set: customers, stores, orders over two years and app
//! events, written as Parquet. The same `customers` and seed always give the same files.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// The data covers the two years before this instant; the demo refreshes as of it.
pub const DATA_END: &str = "2026-07-01 00:00:00";
const DAYS: i64 = 730;
const MICROS_PER_DAY: i64 = 86_400_000_000;
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
const CATEGORIES: &[(&str, f64)] = &[
    ("服饰", 260.0),
    ("美妆", 180.0),
    ("食品", 60.0),
    ("数码", 1500.0),
    ("家居", 320.0),
    ("母婴", 210.0),
    ("运动", 380.0),
    ("图书", 55.0),
];
const CHANNELS: &[&str] = &["app", "mini_program", "web", "store"];
const EVENTS: &[&str] = &["launch", "view", "search", "add_cart", "share"];

fn data_end() -> NaiveDateTime {
    NaiveDateTime::parse_from_str(DATA_END, "%Y-%m-%d %H:%M:%S").unwrap_or_default()
}

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

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

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

pub fn stores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("store_id", DataType::Utf8, false),
        Field::new("city_name", DataType::Utf8, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("opened_at", ts_type(), false),
    ]))
}

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

/// Writes `customers/`, `stores/`, `orders/` and `app_events/` under `dir`. `tick` is called
/// with the number of customers done.
///
/// Every random draw comes from one generator seeded with `seed`, in a fixed order: the
/// stores, then customer by customer their attributes, orders and app sessions.
pub fn generate(
    dir: &Path,
    customers: usize,
    seed: u64,
    mut tick: impl FnMut(usize),
) -> Result<Generated> {
    let window = Window::of_data();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stores = generate_stores(dir, &mut rng, window.start)?;
    let mut out = Generated {
        stores: stores.len(),
        ..Generated::default()
    };
    let mut customer_sink = ParquetSink::create(&dir.join("customers"), customers_schema())?;
    let mut order_sink = ParquetSink::create(&dir.join("orders"), orders_schema())?;
    let mut event_sink = ParquetSink::create(&dir.join("app_events"), events_schema())?;
    let mut order_id: i64 = 1;
    let mut done = 0;
    while done < customers {
        let n = CHUNK.min(customers - done);
        let mut chunk = Chunk::default();
        for i in done..done + n {
            chunk.customer(&mut rng, i, &window, &stores, &mut order_id);
        }
        out.orders += chunk.orders.rows;
        out.events += chunk.events.rows;
        customer_sink.write(&chunk.customers.finish()?)?;
        order_sink.write(&chunk.orders.finish()?)?;
        event_sink.write(&chunk.events.finish()?)?;
        done += n;
        out.customers = done;
        tick(done);
    }
    customer_sink.close()?;
    order_sink.close()?;
    event_sink.close()?;
    Ok(out)
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

/// Writes `stores/`: a few stores per city (more in the first four), near its centre.
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

/// The rows of up to [`CHUNK`] customers and their orders and app events.
#[derive(Default)]
struct Chunk {
    customers: CustomerColumns,
    orders: OrderColumns,
    events: EventColumns,
}

/// What a customer's orders and sessions are drawn from.
struct Customer {
    id: String,
    city: usize,
    /// The first and last instants the customer is active in the window.
    first_active: i64,
    active_until: i64,
    /// Orders expected over the active span.
    expected: f64,
}

impl Chunk {
    /// Draws the `i`-th customer (0-based), then their orders and app sessions.
    fn customer(
        &mut self,
        rng: &mut ChaCha8Rng,
        i: usize,
        window: &Window,
        stores: &[Store],
        order_id: &mut i64,
    ) {
        let customer = self.customers.draw(rng, i, window);
        self.orders.draw(rng, &customer, stores, order_id);
        self.events.draw(rng, &customer);
    }
}

/// The columns of `customers` (see [`customers_schema`]).
#[derive(Default)]
struct CustomerColumns {
    id: StringBuilder,
    sex: StringBuilder,
    birth: Date32Builder,
    city: StringBuilder,
    lat: Float64Builder,
    lon: Float64Builder,
    signup: TimestampMicrosecondBuilder,
    level: Int32Builder,
    phone: StringBuilder,
}

impl CustomerColumns {
    /// Draws the attributes of the `i`-th customer (0-based) and their activity: most live in
    /// the four largest cities; most signed up before the window, some during it (new
    /// customers); one in four stops being active (churns) at a random day.
    fn draw(&mut self, rng: &mut ChaCha8Rng, i: usize, window: &Window) -> Customer {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let id = format!("C{:06}", i + 1);
        let city = if rng.random_bool(0.55) {
            rng.random_range(0..4)
        } else {
            rng.random_range(0..CITIES.len())
        };
        let (city_name, clat, clon) = CITIES[city];
        self.id.append_value(&id);
        match rng.random_range(0..100) {
            0..=51 => self.sex.append_value("F"),
            52..=97 => self.sex.append_value("M"),
            _ => self.sex.append_null(),
        }
        let age_days = rng.random_range(18 * 365..70 * 365) as i64;
        let birth = data_end().date() - chrono::Duration::days(age_days);
        self.birth.append_value((birth - epoch).num_days() as i32);
        self.city.append_value(city_name);
        self.lat.append_value(clat + rng.random_range(-0.15..0.15));
        self.lon.append_value(clon + rng.random_range(-0.15..0.15));
        let (start, end) = (window.start, window.end);
        let signup = if rng.random_bool(0.7) {
            start - rng.random_range(0..1000) * MICROS_PER_DAY
        } else {
            start + rng.random_range(0..DAYS) * MICROS_PER_DAY
        };
        self.signup
            .append_value(signup + rng.random_range(0..MICROS_PER_DAY));
        let level = match rng.random_range(0..100) {
            0..=59 => 1,
            60..=84 => 2,
            85..=96 => 3,
            _ => 4,
        };
        self.level.append_value(level);
        self.phone.append_value(format!(
            "1{}{:09}",
            [3, 5, 7, 8, 9][rng.random_range(0..5)],
            rng.random_range(0..1_000_000_000u64)
        ));
        // Activity: a last active day (churned customers stop early) and a yearly order rate.
        let first_active = signup.max(start);
        let active_until = if rng.random_bool(0.25) {
            first_active
                + rng.random_range(0..=(end - first_active) / MICROS_PER_DAY) * MICROS_PER_DAY
        } else {
            end
        };
        let rate_per_year = yearly_order_rate(rng, level);
        let span_days = ((active_until - first_active) / MICROS_PER_DAY).max(0) as f64;
        Customer {
            id,
            city,
            first_active,
            active_until,
            expected: rate_per_year * span_days / 365.0,
        }
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            customers_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.sex.finish()),
                Arc::new(self.birth.finish()),
                Arc::new(self.city.finish()),
                Arc::new(self.lat.finish()),
                Arc::new(self.lon.finish()),
                Arc::new(self.signup.finish()),
                Arc::new(self.level.finish()),
                Arc::new(self.phone.finish()),
            ],
        )?)
    }
}

/// Orders a year: one customer in ten never orders, half order a few times, the rest often;
/// higher member levels order more.
fn yearly_order_rate(rng: &mut ChaCha8Rng, level: i32) -> f64 {
    (match rng.random_range(0..100) {
        0..=9 => 0.0,
        10..=59 => rng.random_range(1.0..6.0),
        60..=89 => rng.random_range(6.0..16.0),
        _ => rng.random_range(16.0..40.0),
    }) * (1.0 + (level as f64 - 1.0) * 0.3)
}

/// The columns of `orders` (see [`orders_schema`]).
#[derive(Default)]
struct OrderColumns {
    id: Int64Builder,
    customer: StringBuilder,
    store: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    amount: Float64Builder,
    discount: Float64Builder,
    category: StringBuilder,
    channel: StringBuilder,
    /// Rows appended so far.
    rows: usize,
}

impl OrderColumns {
    /// Draws a customer's orders: a Poisson number of them over the active span, mostly of a
    /// favourite category, through a favourite channel, at a usual time of day (the template's
    /// preferred_daypart); coupon lovers use discounts more; store orders go to a local store.
    fn draw(
        &mut self,
        rng: &mut ChaCha8Rng,
        customer: &Customer,
        stores: &[Store],
        order_id: &mut i64,
    ) {
        let orders = poisson(rng, customer.expected);
        let favorite = rng.random_range(0..CATEGORIES.len());
        let favorite_channel = rng.random_range(0..CHANNELS.len());
        let coupon_lover = rng.random_bool(0.3);
        let local_stores: Vec<&String> = stores
            .iter()
            .filter(|s| s.city == customer.city)
            .map(|s| &s.id)
            .collect();
        let usual_hour = [8, 12, 15, 20, 21, 22][rng.random_range(0..6)];
        let (first_active, active_until) = (customer.first_active, customer.active_until);
        for _ in 0..orders {
            let mut ts = first_active + rng.random_range(0..(active_until - first_active).max(1));
            if rng.random_bool(0.6) {
                let day = ts.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
                ts = day + (usual_hour * 3600 + rng.random_range(0..3600)) * 1_000_000;
            }
            let cat = if rng.random_bool(0.5) {
                favorite
            } else {
                rng.random_range(0..CATEGORIES.len())
            };
            let (cat_name, mean) = CATEGORIES[cat];
            let channel = if rng.random_bool(0.6) {
                favorite_channel
            } else {
                rng.random_range(0..CHANNELS.len())
            };
            let amount = (mean * rng.random_range(0.3..2.2) * 100.0).round() / 100.0;
            let discount = if rng.random_bool(if coupon_lover { 0.7 } else { 0.15 }) {
                (amount * rng.random_range(0.05..0.3) * 100.0).round() / 100.0
            } else {
                0.0
            };
            self.id.append_value(*order_id);
            *order_id += 1;
            self.customer.append_value(&customer.id);
            if CHANNELS[channel] == "store" && !local_stores.is_empty() {
                self.store
                    .append_value(local_stores[rng.random_range(0..local_stores.len())]);
            } else {
                self.store.append_null();
            }
            self.ts.append_value(ts);
            self.amount.append_value(amount);
            self.discount.append_value(discount);
            self.category.append_value(cat_name);
            self.channel.append_value(CHANNELS[channel]);
            self.rows += 1;
        }
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            orders_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.customer.finish()),
                Arc::new(self.store.finish()),
                Arc::new(self.ts.finish()),
                Arc::new(self.amount.finish()),
                Arc::new(self.discount.finish()),
                Arc::new(self.category.finish()),
                Arc::new(self.channel.finish()),
            ],
        )?)
    }
}

/// The columns of `app_events` (see [`events_schema`]).
#[derive(Default)]
struct EventColumns {
    customer: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    event: StringBuilder,
    /// Rows appended so far.
    rows: usize,
}

impl EventColumns {
    /// Draws a customer's app sessions: app users (60%) open the app on some days, mostly
    /// while active, more often the more they order.
    fn draw(&mut self, rng: &mut ChaCha8Rng, customer: &Customer) {
        if !rng.random_bool(0.6) {
            return;
        }
        let (first_active, active_until) = (customer.first_active, customer.active_until);
        let sessions = poisson(rng, customer.expected * 2.5 + 2.0);
        for _ in 0..sessions {
            let ts = first_active + rng.random_range(0..(active_until - first_active).max(1));
            self.customer.append_value(&customer.id);
            self.ts.append_value(ts);
            self.event
                .append_value(EVENTS[rng.random_range(0..EVENTS.len())]);
            self.rows += 1;
        }
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            events_schema(),
            vec![
                Arc::new(self.customer.finish()),
                Arc::new(self.ts.finish()),
                Arc::new(self.event.finish()),
            ],
        )?)
    }
}

/// A Poisson draw (Knuth for small means, a rounded normal approximation for large ones).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as u64;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random_range(0.0..1.0);
        if p <= limit {
            return k;
        }
        k += 1;
    }
}
