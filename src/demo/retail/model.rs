//! Who the retail demo's customers are and how they shop.
//!
//! A customer's age band, city tier and member level shape what, how often and how much they
//! buy, whether they hunt coupons, which channel they prefer and whether they use the app, so
//! a segment profile of the demo shows what a marketer would expect. Each effect is a column of
//! one of three small tables: [`AGE_BANDS`], [`TIERS`] and [`LEVELS`]. Everything else is
//! drawn at random, independently.
//!
//! A chunk of customers is drawn from its own random stream (the seed and the chunk's number),
//! so it does not depend on which thread draws it or on the chunks drawn before it.

use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, Int64Array, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    CATEGORIES, CHANNELS, CITIES, DAYS, EVENTS, MICROS_PER_DAY, Store, Window, customers_schema,
    data_end, events_schema, orders_schema,
};
use crate::error::Result;

/// An age band (the template's `age_band` tag) and how its customers shop.
pub(super) struct AgeBand {
    /// Ages in the band, in whole years: from, to (exclusive), as the template's `age_band`
    /// tag bands them.
    ages: (u32, u32),
    /// Share of the customers (weights).
    share: f64,
    /// Chance of being a parent of young children, who buy 母婴 ([`PARENT_BABY_WEIGHT`]).
    parents: f64,
    /// Multiplier of the yearly order rate.
    frequency: f64,
    /// Multiplier of the chance of being a coupon lover.
    coupon: f64,
    /// Chance of using the app at all.
    app_users: f64,
    /// Multiplier of an app user's sessions.
    app_sessions: f64,
    /// Weights of the categories, in the order of [`CATEGORIES`]: the young buy 服饰, 美妆,
    /// 数码 and 运动, the older 食品, 家居 and 图书.
    categories: [f64; CATEGORIES.len()],
    /// Weights of the favourite channel, in the order of [`CHANNELS`]: the young order in the
    /// app, the older in stores.
    channels: [f64; CHANNELS.len()],
}

/// The age bands, youngest first; their ages cover 18 to 69.
pub(super) const AGE_BANDS: [AgeBand; 5] = [
    // 18-24
    AgeBand {
        ages: (18, 25),
        share: 16.0,
        parents: 0.03,
        frequency: 0.8,
        coupon: 0.9,
        app_users: 0.85,
        app_sessions: 1.6,
        //          服饰  美妆  食品  数码  家居 母婴  运动  图书
        categories: [26.0, 18.0, 9.0, 18.0, 3.0, 1.0, 19.0, 6.0],
        //       app   mini  web  store
        channels: [45.0, 32.0, 8.0, 15.0],
    },
    // 25-34
    AgeBand {
        ages: (25, 35),
        share: 30.0,
        parents: 0.40,
        frequency: 1.15,
        coupon: 0.85,
        app_users: 0.78,
        app_sessions: 1.3,
        categories: [22.0, 15.0, 12.0, 14.0, 10.0, 2.0, 15.0, 10.0],
        channels: [42.0, 28.0, 12.0, 18.0],
    },
    // 35-44
    AgeBand {
        ages: (35, 45),
        share: 25.0,
        parents: 0.55,
        frequency: 1.1,
        coupon: 1.0,
        app_users: 0.62,
        app_sessions: 1.0,
        categories: [16.0, 9.0, 18.0, 11.0, 17.0, 3.0, 12.0, 14.0],
        channels: [32.0, 25.0, 16.0, 27.0],
    },
    // 45-54
    AgeBand {
        ages: (45, 55),
        share: 17.0,
        parents: 0.10,
        frequency: 0.85,
        coupon: 1.3,
        app_users: 0.45,
        app_sessions: 0.8,
        categories: [12.0, 6.0, 26.0, 7.0, 22.0, 3.0, 8.0, 16.0],
        channels: [22.0, 20.0, 18.0, 40.0],
    },
    // 55+
    AgeBand {
        ages: (55, 70),
        share: 12.0,
        parents: 0.02,
        frequency: 0.65,
        coupon: 1.6,
        app_users: 0.28,
        app_sessions: 0.6,
        categories: [9.0, 3.0, 32.0, 3.0, 24.0, 3.0, 5.0, 21.0],
        channels: [12.0, 15.0, 13.0, 60.0],
    },
];

/// Weight a parent adds to 母婴 (about a quarter of their orders).
const PARENT_BABY_WEIGHT: f64 = 35.0;
/// The index of 母婴 in [`CATEGORIES`].
const BABY: usize = 5;

/// A city tier (the template's `city_tier` tag) and how its customers shop.
pub(super) struct Tier {
    /// Multiplier of order amounts: first-tier cities spend more per order.
    spend: f64,
    /// Chance of being a coupon lover, before the age band's and member level's multipliers.
    coupon: f64,
    /// Weights of the member levels 普通, 银卡, 金卡, 钻石.
    levels: [f64; LEVELS.len()],
    /// Multipliers of the age band's category weights, in the order of [`CATEGORIES`].
    categories: [f64; CATEGORIES.len()],
}

/// The city tiers of the template's `city_tier` tag: 一线, 新一线, 其他 ([`tier_of`]).
pub(super) const TIERS: [Tier; 3] = [
    // 一线
    Tier {
        spend: 1.35,
        coupon: 0.18,
        levels: [48.0, 28.0, 16.0, 8.0],
        categories: [1.1, 1.3, 0.9, 1.2, 1.0, 1.0, 1.2, 1.1],
    },
    // 新一线
    Tier {
        spend: 1.0,
        coupon: 0.28,
        levels: [60.0, 25.0, 11.0, 4.0],
        categories: [1.0; CATEGORIES.len()],
    },
    // 其他
    Tier {
        spend: 0.7,
        coupon: 0.42,
        levels: [70.0, 21.0, 7.0, 2.0],
        categories: [1.0, 0.8, 1.25, 0.8, 1.1, 1.0, 0.8, 0.9],
    },
];

/// The index in [`TIERS`] of a city's tier, as the template's `city_tier` tag computes it.
pub(super) fn tier_of(city: &str) -> usize {
    match city {
        "北京" | "上海" | "广州" | "深圳" => 0,
        "杭州" | "成都" | "武汉" | "南京" | "西安" | "重庆" | "苏州" | "天津" => 1,
        _ => 2,
    }
}

/// A member level (`member_level_code` 1 to 4: 普通, 银卡, 金卡, 钻石) and how its members shop.
pub(super) struct Level {
    /// Multiplier of the yearly order rate.
    frequency: f64,
    /// Multiplier of order amounts.
    spend: f64,
    /// Multiplier of the chance of being a coupon lover: few 钻石 members hunt coupons.
    coupon: f64,
    /// Chance of churning (stopping at a random day of the window).
    churn: f64,
}

/// The member levels 普通, 银卡, 金卡, 钻石, by `member_level_code` - 1.
pub(super) const LEVELS: [Level; 4] = [
    Level {
        frequency: 1.0,
        spend: 1.0,
        coupon: 1.15,
        churn: 0.30,
    },
    Level {
        frequency: 1.4,
        spend: 1.1,
        coupon: 1.0,
        churn: 0.22,
    },
    Level {
        frequency: 1.9,
        spend: 1.25,
        coupon: 0.8,
        churn: 0.15,
    },
    Level {
        frequency: 2.6,
        spend: 1.45,
        coupon: 0.4,
        churn: 0.08,
    },
];

/// The index in [`AGE_BANDS`] of an age in whole years (the template's `age_band` tag).
#[cfg(test)]
pub(super) fn band_of(age: u32) -> usize {
    AGE_BANDS
        .iter()
        .position(|b| age < b.ages.1)
        .unwrap_or(AGE_BANDS.len() - 1)
}

/// The stores and the time window every chunk is drawn in, and the seed of the streams.
pub(super) struct World {
    window: Window,
    /// Store ids by the index of their city in [`CITIES`].
    stores_by_city: Vec<Vec<String>>,
    seed: u64,
}

impl World {
    pub(super) fn new(window: Window, stores: &[Store], seed: u64) -> Self {
        let mut stores_by_city = vec![Vec::new(); CITIES.len()];
        for store in stores {
            stores_by_city[store.city].push(store.id.clone());
        }
        World {
            window,
            stores_by_city,
            seed,
        }
    }

    /// Draws chunk `k`: the customers numbered `ids` (0-based), their orders and app events,
    /// from random stream `k + 1` of the seed (stream 0 draws the stores).
    pub(super) fn chunk(&self, k: usize, ids: Range<usize>) -> Result<ChunkRows> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(k as u64 + 1);
        let (mut customers, mut orders, mut events) = (
            CustomerColumns::default(),
            OrderColumns::default(),
            EventColumns::default(),
        );
        for i in ids {
            let customer = customers.draw(&mut rng, i, &self.window);
            orders.draw(&mut rng, &customer, &self.stores_by_city[customer.city]);
            events.draw(&mut rng, &customer);
        }
        Ok(ChunkRows {
            customers: customers.finish()?,
            order_rows: orders.rows,
            orders: orders.finish(),
            events: events.finish()?,
        })
    }
}

/// The rows of a chunk of customers, ready to write once its orders have their ids.
pub(super) struct ChunkRows {
    pub customers: RecordBatch,
    /// The columns of `orders` after `order_id`.
    orders: Vec<ArrayRef>,
    pub order_rows: usize,
    pub events: RecordBatch,
}

impl ChunkRows {
    /// The chunk's orders, numbered from `first_id` on.
    pub(super) fn orders_with_ids(&self, first_id: i64) -> Result<RecordBatch> {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
            first_id..first_id + self.order_rows as i64,
        ));
        let mut columns = vec![ids];
        columns.extend(self.orders.iter().cloned());
        Ok(RecordBatch::try_new(orders_schema(), columns)?)
    }
}

/// What a customer's orders and sessions are drawn from.
struct Customer {
    id: String,
    /// The index of the city in [`CITIES`].
    city: usize,
    band: &'static AgeBand,
    tier: &'static Tier,
    level: &'static Level,
    parent: bool,
    /// The first and last instants the customer is active in the window.
    first_active: i64,
    active_until: i64,
    /// Orders expected over the active span.
    expected: f64,
}

impl Customer {
    /// Weights of the categories the customer buys: the age band's times the tier's, and 母婴
    /// for parents.
    fn category_weights(&self) -> [f64; CATEGORIES.len()] {
        let mut weights: [f64; CATEGORIES.len()] =
            std::array::from_fn(|c| self.band.categories[c] * self.tier.categories[c]);
        if self.parent {
            weights[BABY] += PARENT_BABY_WEIGHT;
        }
        weights
    }

    /// The chance of being a coupon lover: higher in lower tiers, among older customers and
    /// at low member levels.
    fn coupon_lover_chance(&self) -> f64 {
        (self.tier.coupon * self.band.coupon * self.level.coupon).min(0.9)
    }

    /// Multiplier of order amounts.
    fn spend(&self) -> f64 {
        self.tier.spend * self.level.spend
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
    /// the four largest cities; the age band, then the member level by the city's tier; 2%
    /// have no recorded sex.
    fn draw(&mut self, rng: &mut ChaCha8Rng, i: usize, window: &Window) -> Customer {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let id = format!("C{:06}", i + 1);
        let city = if rng.random_bool(0.55) {
            rng.random_range(0..4)
        } else {
            rng.random_range(0..CITIES.len())
        };
        let (city_name, clat, clon) = CITIES[city];
        let tier = &TIERS[tier_of(city_name)];
        self.id.append_value(&id);
        match rng.random_range(0..100) {
            0..=51 => self.sex.append_value("F"),
            52..=97 => self.sex.append_value("M"),
            _ => self.sex.append_null(),
        }
        let shares: [f64; AGE_BANDS.len()] = std::array::from_fn(|b| AGE_BANDS[b].share);
        let band = &AGE_BANDS[pick(rng, &shares)];
        // Whole years as the template counts them: floor(days / 365.25).
        let days = |years: u32| (years as f64 * 365.25).ceil() as i64;
        let age_days = rng.random_range(days(band.ages.0)..days(band.ages.1));
        let birth = data_end().date() - chrono::Duration::days(age_days);
        self.birth.append_value((birth - epoch).num_days() as i32);
        self.city.append_value(city_name);
        self.lat.append_value(clat + rng.random_range(-0.15..0.15));
        self.lon.append_value(clon + rng.random_range(-0.15..0.15));
        let signup = draw_signup(rng, window);
        self.signup
            .append_value(signup + rng.random_range(0..MICROS_PER_DAY));
        let level = pick(rng, &tier.levels);
        self.level.append_value(level as i32 + 1);
        self.phone.append_value(format!(
            "1{}{:09}",
            [3, 5, 7, 8, 9][rng.random_range(0..5)],
            rng.random_range(0..1_000_000_000u64)
        ));
        let mut customer = Customer {
            id,
            city,
            band,
            tier,
            level: &LEVELS[level],
            parent: rng.random_bool(band.parents),
            first_active: signup.max(window.start),
            active_until: window.end,
            expected: 0.0,
        };
        draw_activity(rng, &mut customer, window);
        customer
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

/// The day a customer signed up: most before the window, 30% during it (new customers).
fn draw_signup(rng: &mut ChaCha8Rng, window: &Window) -> i64 {
    if rng.random_bool(0.7) {
        window.start - rng.random_range(0..1000) * MICROS_PER_DAY
    } else {
        window.start + rng.random_range(0..DAYS) * MICROS_PER_DAY
    }
}

/// A customer's activity: some churn (stop being active at a random day; fewer at higher
/// member levels) and the orders expected over the active span.
fn draw_activity(rng: &mut ChaCha8Rng, customer: &mut Customer, window: &Window) {
    let first_active = customer.first_active;
    if rng.random_bool(customer.level.churn) {
        customer.active_until = first_active
            + rng.random_range(0..=(window.end - first_active) / MICROS_PER_DAY) * MICROS_PER_DAY;
    }
    let rate_per_year = yearly_order_rate(rng) * customer.level.frequency * customer.band.frequency;
    let span_days = ((customer.active_until - first_active) / MICROS_PER_DAY).max(0) as f64;
    customer.expected = rate_per_year * span_days / 365.0;
}

/// Orders a year before the member level's and age band's multipliers: one customer in ten
/// never orders, half order a few times, the rest often.
fn yearly_order_rate(rng: &mut ChaCha8Rng) -> f64 {
    match rng.random_range(0..100) {
        0..=9 => 0.0,
        10..=59 => rng.random_range(1.0..6.0),
        60..=89 => rng.random_range(6.0..16.0),
        _ => rng.random_range(16.0..40.0),
    }
}

/// The columns of `orders` after `order_id` (see [`orders_schema`]): the ids are given when
/// the chunk is written, so they are dense and in chunk order.
#[derive(Default)]
struct OrderColumns {
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
    /// Draws a customer's orders: a Poisson number of them over the active span, half of a
    /// favourite category and the rest by the customer's category weights, through a favourite
    /// channel, at a usual time of day (the template's preferred_daypart); amounts scale with
    /// the tier and member level; coupon lovers use discounts more; store orders go to a
    /// store of the customer's city (`local_stores`).
    fn draw(&mut self, rng: &mut ChaCha8Rng, customer: &Customer, local_stores: &[String]) {
        let orders = poisson(rng, customer.expected);
        let weights = customer.category_weights();
        let favorite = pick(rng, &weights);
        let favorite_channel = pick(rng, &customer.band.channels);
        let coupon_lover = rng.random_bool(customer.coupon_lover_chance());
        let usual_hour = [8, 12, 15, 20, 21, 22][rng.random_range(0..6)];
        let spend = customer.spend();
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
                pick(rng, &weights)
            };
            let (cat_name, mean) = CATEGORIES[cat];
            let channel = if rng.random_bool(0.6) {
                favorite_channel
            } else {
                rng.random_range(0..CHANNELS.len())
            };
            let amount = (mean * spend * rng.random_range(0.3..2.2) * 100.0).round() / 100.0;
            let discount = if rng.random_bool(if coupon_lover { 0.7 } else { 0.15 }) {
                (amount * rng.random_range(0.05..0.3) * 100.0).round() / 100.0
            } else {
                0.0
            };
            self.customer.append_value(&customer.id);
            if CHANNELS[channel] == "store" && !local_stores.is_empty() {
                self.store
                    .append_value(&local_stores[rng.random_range(0..local_stores.len())]);
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

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.customer.finish()),
            Arc::new(self.store.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.discount.finish()),
            Arc::new(self.category.finish()),
            Arc::new(self.channel.finish()),
        ]
    }
}

/// The columns of `app_events` (see [`events_schema`]).
#[derive(Default)]
struct EventColumns {
    customer: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    event: StringBuilder,
}

impl EventColumns {
    /// Draws a customer's app sessions: app users (most of the young, few of the old) open the
    /// app on some days while active, more often the more they order and the younger they are.
    fn draw(&mut self, rng: &mut ChaCha8Rng, customer: &Customer) {
        if !rng.random_bool(customer.band.app_users) {
            return;
        }
        let (first_active, active_until) = (customer.first_active, customer.active_until);
        let sessions = poisson(
            rng,
            (customer.expected * 2.5 + 2.0) * customer.band.app_sessions,
        );
        for _ in 0..sessions {
            let ts = first_active + rng.random_range(0..(active_until - first_active).max(1));
            self.customer.append_value(&customer.id);
            self.ts.append_value(ts);
            self.event
                .append_value(EVENTS[rng.random_range(0..EVENTS.len())]);
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

/// An index of `weights` drawn with a chance proportional to its weight (all positive).
fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
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
