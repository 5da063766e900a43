use std::fs::File;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Date32Type, Float64Type, Int32Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::model::{AGE_BANDS, band_of, tier_of};
use super::*;

const SEED: u64 = 20261123;

/// The rows of `<dir>/<table>/part-0.parquet`.
fn read(dir: &Path, table: &str) -> Vec<RecordBatch> {
    let file = File::open(dir.join(table).join("part-0.parquet")).expect("open");
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

#[test]
fn the_files_do_not_depend_on_the_number_of_workers() {
    let (one, many) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    // 2,500 customers in 9 chunks, the last one short.
    let plan = |workers| Plan {
        chunk: 300,
        workers,
    };
    let a = generate_with(one.path(), 2500, SEED, plan(1), |_| {}).expect("1 worker");
    let mut ticks = Vec::new();
    let b = generate_with(many.path(), 2500, SEED, plan(4), |n| ticks.push(n)).expect("4");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(ticks.last(), Some(&2500));
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    for table in TABLES {
        let path = |dir: &Path| dir.join(table).join("part-0.parquet");
        let bytes = |dir: &Path| std::fs::read(path(dir)).expect("read");
        assert!(
            bytes(one.path()) == bytes(many.path()),
            "{table} differs between 1 and 4 workers"
        );
    }
    // The order ids are 1, 2, … in file order; every customer is there once, in order.
    let ids: Vec<i64> = read(one.path(), "orders")
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, (1..=a.orders as i64).collect::<Vec<_>>());
    let customers: Vec<String> = read(one.path(), "customers")
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_string::<i32>();
            (0..ids.len())
                .map(|i| ids.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(customers.len(), 2500);
    assert_eq!(customers[0], "C000001");
    assert_eq!(customers[2499], "C002500");
}

/// What the correlation test knows of a customer.
#[derive(Default, Clone)]
struct Person {
    tier: usize,
    band: usize,
    level: usize,
    app_user: bool,
}

/// Orders summed over a group of customers.
#[derive(Default)]
struct Totals {
    customers: usize,
    orders: usize,
    amount: f64,
    coupons: usize,
    /// Orders by category, in the order of [`CATEGORIES`].
    categories: [usize; CATEGORIES.len()],
}

impl Totals {
    fn mean_amount(&self) -> f64 {
        self.amount / self.orders as f64
    }
    fn coupon_share(&self) -> f64 {
        self.coupons as f64 / self.orders as f64
    }
    /// Share of the orders in the categories named.
    fn share_of(&self, names: &[&str]) -> f64 {
        let n: usize = CATEGORIES
            .iter()
            .zip(self.categories)
            .filter(|((name, _), _)| names.contains(name))
            .map(|(_, n)| n)
            .sum();
        n as f64 / self.orders as f64
    }
    fn orders_per_customer(&self) -> f64 {
        self.orders as f64 / self.customers as f64
    }
}

/// One chunk of `n` customers (no stores: store orders have no store), as people and orders.
fn sample(n: usize) -> (Vec<Person>, ChunkSample) {
    let world = World::new(Window::of_data(), &[], SEED);
    let rows = world.chunk(0, 0..n).expect("chunk");
    let c = &rows.customers;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let end = (data_end().date() - epoch).num_days();
    let births = c.column(2).as_primitive::<Date32Type>();
    let cities = c.column(3).as_string::<i32>();
    let levels = c.column(7).as_primitive::<Int32Type>();
    let mut people: Vec<Person> = (0..n)
        .map(|i| Person {
            tier: tier_of(cities.value(i)),
            band: band_of(((end - births.value(i) as i64) as f64 / 365.25).floor() as u32),
            level: levels.value(i) as usize - 1,
            app_user: false,
        })
        .collect();
    let events = rows.events.column(0).as_string::<i32>();
    for i in 0..events.len() {
        people[index(events.value(i))].app_user = true;
    }
    let nulls = c.column(1).null_count();
    let orders = rows.orders_with_ids(1).expect("orders");
    (people, ChunkSample { orders, nulls })
}

/// The orders of a sample and the customers without a recorded sex.
struct ChunkSample {
    orders: RecordBatch,
    nulls: usize,
}

/// The 0-based number of customer `C000123`.
fn index(id: &str) -> usize {
    id[1..].parse::<usize>().expect("customer number") - 1
}

/// Totals of the orders of the customers `group` selects.
fn totals(people: &[Person], orders: &RecordBatch, group: impl Fn(&Person) -> bool) -> Totals {
    let customers = orders.column(1).as_string::<i32>();
    let amounts = orders.column(4).as_primitive::<Float64Type>();
    let discounts = orders.column(5).as_primitive::<Float64Type>();
    let categories = orders.column(6).as_string::<i32>();
    let mut t = Totals {
        customers: people.iter().filter(|p| group(p)).count(),
        ..Totals::default()
    };
    for i in 0..orders.num_rows() {
        if !group(&people[index(customers.value(i))]) {
            continue;
        }
        t.orders += 1;
        t.amount += amounts.value(i);
        t.coupons += usize::from(discounts.value(i) > 0.0);
        let c = CATEGORIES
            .iter()
            .position(|(name, _)| *name == categories.value(i));
        t.categories[c.expect("known category")] += 1;
    }
    t
}

#[test]
fn who_the_customers_are_shapes_how_they_shop() {
    assert_eq!(CATEGORIES[5].0, "母婴");
    assert_eq!(
        [tier_of("深圳"), tier_of("苏州"), tier_of("厦门")],
        [0, 1, 2]
    );
    assert_eq!(
        [17, 18, 24, 25, 44, 45, 54, 55, 69].map(band_of),
        [0, 0, 0, 1, 2, 3, 3, 4, 4]
    );
    let (people, sample) = sample(20_000);
    let orders = &sample.orders;
    assert!(
        (200..=600).contains(&sample.nulls),
        "2% without sex: {}",
        sample.nulls
    );
    let tier = |t: usize| totals(&people, orders, move |p: &Person| p.tier == t);
    let (first, other) = (tier(0), tier(2));
    // First-tier cities spend more per order, lower tiers use more coupons.
    assert!(
        first.mean_amount() > 1.5 * other.mean_amount(),
        "mean order amount 一线 {:.0}, 其他 {:.0}",
        first.mean_amount(),
        other.mean_amount()
    );
    assert!(
        other.coupon_share() > first.coupon_share() + 0.08,
        "coupon orders 一线 {:.3}, 其他 {:.3}",
        first.coupon_share(),
        other.coupon_share()
    );
    // The young buy fashion, beauty, electronics and sports; the older food, home and books;
    // 25-44 (parents) baby products.
    let band = |b: usize| totals(&people, orders, move |p: &Person| p.band == b);
    let (young, old) = (band(0), band(AGE_BANDS.len() - 1));
    let trendy = ["服饰", "美妆", "数码", "运动"];
    let home = ["食品", "家居", "图书"];
    assert!(young.share_of(&trendy) > old.share_of(&trendy) + 0.35);
    assert!(old.share_of(&home) > young.share_of(&home) + 0.35);
    let parents = totals(&people, orders, |p| p.band == 1 || p.band == 2);
    let others = totals(&people, orders, |p| p.band != 1 && p.band != 2);
    assert!(
        parents.share_of(&["母婴"]) > 3.0 * others.share_of(&["母婴"]),
        "母婴 {:.3} vs {:.3}",
        parents.share_of(&["母婴"]),
        others.share_of(&["母婴"])
    );
    // Higher member levels order more often and spend more; few 钻石 members hunt coupons.
    let level = |l: usize| totals(&people, orders, move |p: &Person| p.level == l);
    let (basic, diamond) = (level(0), level(3));
    assert!(diamond.orders_per_customer() > 1.8 * basic.orders_per_customer());
    assert!(diamond.mean_amount() > 1.2 * basic.mean_amount());
    assert!(diamond.coupon_share() < basic.coupon_share() - 0.05);
    // The young use the app more.
    let app_share = |b: usize| {
        let group: Vec<&Person> = people.iter().filter(|p| p.band == b).collect();
        group.iter().filter(|p| p.app_user).count() as f64 / group.len() as f64
    };
    assert!(app_share(0) > app_share(AGE_BANDS.len() - 1) + 0.35);
}
