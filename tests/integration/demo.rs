//! `tagfusion demo`: deterministic data, the retail and finance templates end to end, and tag
//! values that agree with plain SQL over the generated Parquet files.

use std::process::Command;

use super::{Sandbox, python};

/// Customers within 3 km of a store of their city, computed in Python with its own haversine
/// over the generated Parquet files.
const NEAR_STORE_PY: &str = r#"
import math, sys, datetime
import pyarrow.dataset as ds
demo = sys.argv[1]
customers = ds.dataset(demo + "/customers", format="parquet").to_table().to_pylist()
stores = ds.dataset(demo + "/stores", format="parquet").to_table().to_pylist()
as_of = datetime.datetime(2026, 7, 1)
def hav(a, b, c, d):
    p1, p2 = math.radians(a), math.radians(c)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(d - b) / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))
near = 0
for c in customers:
    ds_ = [hav(c["lat"], c["lon"], s["lat"], s["lon"]) for s in stores
           if s["city_name"] == c["city_name"] and s["opened_at"].replace(tzinfo=None) <= as_of]
    if ds_ and math.floor(min(ds_) + 0.5) <= 3000:
        near += 1
print(near)
import os
os._exit(0)
"#;

#[test]
fn demo_runs_the_retail_template_and_its_tags_agree_with_plain_sql() {
    let s = Sandbox::new();
    let out = s.ok(&["--format", "table", "demo", "--customers", "400"]);
    assert!(out.contains("Generated 400 customers"), "{out}");
    assert!(out.contains("Tags by kind and category"), "{out}");
    assert!(out.contains("Example profiles"), "{out}");
    assert!(out.contains("│ inactive_retail "), "{out}");
    // Segment sizes agree with plain SQL over the profile.
    let seg = s.ok(&[
        "run",
        "-c",
        "SELECT (SELECT count(*) FROM customer.high_value) = (SELECT count(*) FROM customer.profile \
                 WHERE rfm_class IN ('重要价值客户', '重要保持客户')) AS same, \
                (SELECT count(*) FROM customer.win_back) <= (SELECT count(*) FROM customer.high_value) AS subset",
    ]);
    assert_eq!(seg, "same,subset\ntrue,true\n");
    // The map segment agrees with an independent haversine in Python.
    let near = s.ok(&["run", "-c", "SELECT count(*) AS n FROM customer.near_store"]);
    let py = Command::new(python())
        .args([
            "-c",
            NEAR_STORE_PY,
            s.warehouse().join("demo").to_str().unwrap(),
        ])
        .output()
        .expect("run python");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let expected = String::from_utf8_lossy(&py.stdout).trim().to_string();
    assert_eq!(near, format!("n\n{expected}\n"));
    assert_ne!(expected, "0", "some customers live near a store");
    // Snapshot files keep the key order (a persona lookup prunes row groups and pages by it).
    let sorted = Command::new(python())
        .args([
            "-c",
            "import glob, os, sys, pyarrow.parquet as pq\n\
             files = glob.glob(sys.argv[1] + '/*.parquet')\n\
             keys = [pq.read_table(f, columns=['customer_id']).column(0).to_pylist() for f in files]\n\
             print(len(files), all(k == sorted(k) for k in keys))\n\
             sys.stdout.flush(); os._exit(0)",
            s.warehouse().join("customer/profile_history").to_str().unwrap(),
        ])
        .output()
        .expect("run python");
    assert_eq!(String::from_utf8_lossy(&sorted.stdout).trim(), "1 True");
    // The demo shows one segment profile with TGI.
    assert!(
        out.contains("Segment profile (群体画像) of high_value"),
        "{out}"
    );
    assert!(out.contains("│ city_tier ┆ 一线 "), "{out}");
    assert!(out.contains("│ C000001 "), "{out}");

    // At least 15 tags, all four kinds, categories two levels deep.
    let kinds = s.ok(&[
        "run",
        "-c",
        "SELECT kind, count(*) AS n FROM tagfusion.tags GROUP BY kind ORDER BY kind",
    ]);
    let kinds: Vec<&str> = kinds
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(kinds, vec!["attribute", "model", "rule", "statistic"]);
    let counts = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) >= 15 AS enough, bool_and(category LIKE '%/%') AS two_levels FROM tagfusion.tags",
    ]);
    assert_eq!(counts, "enough,two_levels\ntrue,true\n");

    // Independent computation over the generated orders, as of the demo's refresh time.
    let check = s.ok(&[
        "run",
        "-c",
        "WITH o AS (SELECT customer_id, count(*) AS n30 FROM orders
                    WHERE ts > TIMESTAMP '2026-06-01 00:00:00' AND ts <= TIMESTAMP '2026-07-01 00:00:00'
                    GROUP BY customer_id),
              y AS (SELECT customer_id, round(sum(amount), 2) AS spend, count(DISTINCT category) AS cats
                    FROM orders WHERE ts > TIMESTAMP '2025-07-01 00:00:00' AND ts <= TIMESTAMP '2026-07-01 00:00:00'
                    GROUP BY customer_id)
         SELECT count(*) AS customers,
                sum(CASE WHEN p.orders_30d = coalesce(o.n30, 0) THEN 1 ELSE 0 END) AS orders_ok,
                sum(CASE WHEN abs(p.spend_365d - coalesce(y.spend, 0)) < 0.005 THEN 1 ELSE 0 END) AS spend_ok,
                sum(CASE WHEN p.distinct_categories_365d = coalesce(y.cats, 0) THEN 1 ELSE 0 END) AS cats_ok,
                sum(CASE WHEN p.important_customer = (coalesce(p.orders_180d, 0) >= 3 OR p.spend_365d >= 5000) THEN 1 ELSE 0 END) AS rule_ok
         FROM customer.profile p LEFT JOIN o USING (customer_id) LEFT JOIN y USING (customer_id)",
    ]);
    assert_eq!(
        check,
        "customers,orders_ok,spend_ok,cats_ok,rule_ok\n400,400,400,400,400\n"
    );
    // Parquet strings read as Utf8, not Utf8View (see docs/benchmarks.md for why).
    let types = s.ok(&[
        "run",
        "-c",
        "SELECT arrow_typeof(category) AS t FROM orders LIMIT 1",
    ]);
    assert_eq!(types, "t\nUtf8\n");
    let busy = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) > 0 AS some FROM customer.profile WHERE orders_30d > 0",
    ]);
    assert_eq!(busy, "some\ntrue\n");
    // The RFM classes agree with an independent computation over the raw orders: R = days
    // since the last order, F = orders and M = spend in the year before the as-of time, each
    // compared with the mean over all customers (no orders: F = M = 0, R unknown → no class).
    let rfm = s.ok(&[
        "run",
        "-c",
        "WITH t AS (SELECT TIMESTAMP '2026-07-01 00:00:00' AS as_of),
              o AS (SELECT customer_id,
                           max(ts) AS last_ts,
                           count(*) FILTER (WHERE ts > TIMESTAMP '2025-07-01 00:00:00') AS f,
                           coalesce(sum(amount) FILTER (WHERE ts > TIMESTAMP '2025-07-01 00:00:00'), 0) AS m
                    FROM orders WHERE ts <= TIMESTAMP '2026-07-01 00:00:00' GROUP BY customer_id),
              c AS (SELECT customers.customer_id,
                           CAST(floor(date_part('epoch', TIMESTAMP '2026-07-01 00:00:00' - o.last_ts) / 86400) AS BIGINT) AS r,
                           coalesce(o.f, 0) AS f, round(coalesce(o.m, 0), 2) AS m
                    FROM customers LEFT JOIN o USING (customer_id)),
              k AS (SELECT customer_id,
                           CASE WHEN r IS NULL THEN NULL
                                ELSE CASE WHEN r <= avg(r) OVER () THEN 'H' ELSE 'L' END
                                  || CASE WHEN f >= avg(f) OVER () THEN 'H' ELSE 'L' END
                                  || CASE WHEN m >= avg(m) OVER () THEN 'H' ELSE 'L' END END AS code
                    FROM c),
              expected AS (SELECT customer_id, CASE code
                   WHEN 'HHH' THEN '重要价值客户' WHEN 'HLH' THEN '重要发展客户' WHEN 'LHH' THEN '重要保持客户'
                   WHEN 'LLH' THEN '重要挽留客户' WHEN 'HHL' THEN '一般价值客户' WHEN 'HLL' THEN '一般发展客户'
                   WHEN 'LHL' THEN '一般保持客户' WHEN 'LLL' THEN '一般挽留客户' END AS class FROM k)
         SELECT count(*) FILTER (WHERE p.rfm_class IS NOT DISTINCT FROM e.class) AS same,
                count(DISTINCT p.rfm_class) >= 6 AS varied
         FROM customer.profile p JOIN expected e USING (customer_id)",
    ]);
    assert_eq!(rfm, "same,varied\n400,true\n");
    // lifecycle_stage() agrees with the rule written out in plain SQL.
    let stages = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) FILTER (WHERE lifecycle_stage IS NOT DISTINCT FROM
                  CASE WHEN first_order_at IS NULL THEN '潜在'
                       WHEN date_part('epoch', TIMESTAMP '2026-07-01 00:00:00' - first_order_at) < 31 * 86400 THEN '引入'
                       WHEN recency_days > 180 THEN '流失' WHEN recency_days > 90 THEN '休眠'
                       WHEN orders_180d >= 6 THEN '成熟' ELSE '成长' END) AS same,
                count(DISTINCT lifecycle_stage) > 3 AS varied
         FROM customer.profile",
    ]);
    assert_eq!(stages, "same,varied\n400,true\n");
    // preferred_daypart (most_frequent) agrees with the mode written out in plain SQL (ties: the
    // smaller value); r_score / m_score (rfm_score) with quintiles from rank().
    let behaviour = s.ok(&[
        "run",
        "-c",
        "WITH o AS (SELECT customer_id, CASE WHEN date_part('hour', ts) < 6 THEN '凌晨'
                                             WHEN date_part('hour', ts) < 11 THEN '上午'
                                             WHEN date_part('hour', ts) < 14 THEN '中午'
                                             WHEN date_part('hour', ts) < 18 THEN '下午' ELSE '晚上' END AS part
                    FROM orders WHERE ts > TIMESTAMP '2025-07-01 00:00:00' AND ts <= TIMESTAMP '2026-07-01 00:00:00'),
              c AS (SELECT customer_id, part, count(*) AS n FROM o GROUP BY customer_id, part),
              m AS (SELECT customer_id, part FROM (SELECT customer_id, part,
                           row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, part) AS rn FROM c) WHERE rn = 1),
              r AS (SELECT customer_id, 5 - CAST(floor(5.0 * (rank() OVER (ORDER BY recency_days) - 1) / count(*) OVER ()) AS BIGINT) AS r
                    FROM customer.profile WHERE recency_days IS NOT NULL),
              s AS (SELECT customer_id, 1 + CAST(floor(5.0 * (rank() OVER (ORDER BY spend_365d) - 1) / count(*) OVER ()) AS BIGINT) AS m
                    FROM customer.profile)
         SELECT count(*) FILTER (WHERE p.preferred_daypart IS NOT DISTINCT FROM m.part) AS daypart,
                count(*) FILTER (WHERE p.r_score IS NOT DISTINCT FROM r.r) AS r_score,
                count(*) FILTER (WHERE p.m_score = s.m) AS m_score,
                count(DISTINCT p.preferred_daypart) >= 4 AND count(DISTINCT p.r_score) = 5
                  AND count(DISTINCT p.aarrr_stage) >= 4 AND count(DISTINCT p.value_cluster) = 4 AS varied
         FROM customer.profile p LEFT JOIN m ON m.customer_id = p.customer_id
              LEFT JOIN r ON r.customer_id = p.customer_id JOIN s ON s.customer_id = p.customer_id",
    ]);
    assert_eq!(
        behaviour,
        "daypart,r_score,m_score,varied\n400,400,400,true\n"
    );

    // Deterministic: a second run in another warehouse gives the same profile — here under a
    // memory limit, with the template's count(DISTINCT …) tags each in its own grouped query.
    let first = s.ok(&[
        "run",
        "-c",
        "SELECT * FROM customer.profile ORDER BY customer_id",
    ]);
    let other = Sandbox::new();
    other.ok(&["--memory-limit", "64M", "demo", "--customers", "400"]);
    assert_eq!(
        other.ok(&[
            "run",
            "-c",
            "SELECT * FROM customer.profile ORDER BY customer_id"
        ]),
        first
    );
}

#[test]
fn demo_runs_the_finance_template_and_its_tags_agree_with_plain_sql() {
    let s = Sandbox::new();
    let out = s.ok(&[
        "--format",
        "table",
        "demo",
        "--industry",
        "finance",
        "--customers",
        "1500",
    ]);
    assert!(out.contains("Generated 1500 clients"), "{out}");
    assert!(
        out.contains("Segment profile (群体画像) of important_clients"),
        "{out}"
    );
    assert!(out.contains("│ F0000001 "), "{out}");
    // Independent computation over the generated tables as of 2026-07-01: AUM, the mission's
    // rule (trades_6m >= 3 OR referrals >= 2), the main channel (mode, ties → smaller), the held
    // products and their count.
    let check = s.ok(&[
        "run",
        "-c",
        "WITH h AS (SELECT client_id, round(sum(balance), 2) AS aum,
                           array_to_string(array_sort(array_agg(DISTINCT product_type) FILTER (WHERE balance > 0)), ',') AS held,
                           count(DISTINCT product_type) FILTER (WHERE balance > 0) AS products
                    FROM holdings GROUP BY client_id),
              t AS (SELECT client_id, count(*) AS trades FROM transactions
                    WHERE product_type IN ('fund', 'wealth', 'gold')
                      AND ts > TIMESTAMP '2026-01-02 00:00:00' AND ts <= TIMESTAMP '2026-07-01 00:00:00'
                    GROUP BY client_id),
              r AS (SELECT referrer_id AS client_id, count(DISTINCT referee_id) AS refs FROM referrals
                    WHERE ts <= TIMESTAMP '2026-07-01 00:00:00' GROUP BY referrer_id),
              c AS (SELECT client_id, channel, count(*) AS n FROM transactions
                    WHERE ts > TIMESTAMP '2025-07-01 00:00:00' AND ts <= TIMESTAMP '2026-07-01 00:00:00'
                    GROUP BY client_id, channel),
              m AS (SELECT client_id, channel FROM (SELECT client_id, channel,
                           row_number() OVER (PARTITION BY client_id ORDER BY n DESC, channel) AS rn FROM c) WHERE rn = 1)
         SELECT count(*) AS clients,
                count(*) FILTER (WHERE p.aum = coalesce(h.aum, 0)) AS aum,
                count(*) FILTER (WHERE p.important_customer = (coalesce(t.trades, 0) >= 3 OR coalesce(r.refs, 0) >= 2)) AS important,
                count(*) FILTER (WHERE p.main_channel IS NOT DISTINCT FROM m.channel) AS channel,
                count(*) FILTER (WHERE coalesce(array_to_string(p.held_products, ','), '') = coalesce(h.held, '')) AS held,
                count(*) FILTER (WHERE p.product_count = coalesce(h.products, 0)) AS products,
                count(*) FILTER (WHERE p.important_customer) > 0 AND count(DISTINCT p.aum_tier) = 4
                  AND count(DISTINCT p.value_cluster) = 4 AND count(DISTINCT p.rfm_class) >= 6 AS varied
         FROM client.profile p LEFT JOIN h ON h.client_id = p.client_id
              LEFT JOIN t ON t.client_id = p.client_id LEFT JOIN r ON r.client_id = p.client_id
              LEFT JOIN m ON m.client_id = p.client_id",
    ]);
    assert_eq!(
        check,
        "clients,aum,important,channel,held,products,varied\n1500,1500,1500,1500,1500,1500,true\n"
    );
    // Segments are what they say; sensitive data is masked by the template.
    let segments = s.ok(&[
        "run",
        "-c",
        "SELECT (SELECT count(*) FROM client.private_banking) = (SELECT count(*) FROM client.profile WHERE aum >= 6000000) AS pb,
                (SELECT count(*) FROM client.important_clients) = (SELECT count(*) FROM client.profile WHERE important_customer) AS ic,
                (SELECT bool_and(id_number_masked LIKE '310101********%') FROM client.profile) AS masked",
    ]);
    assert_eq!(segments, "pb,ic,masked\ntrue,true,true\n");
    // Deterministic, k-means clusters included: a second run gives the same profile.
    let profile = "SELECT * FROM client.profile ORDER BY client_id";
    let first = s.ok(&["run", "-c", profile]);
    let other = Sandbox::new();
    other.ok(&["demo", "--industry", "finance", "--customers", "1500"]);
    assert_eq!(other.ok(&["run", "-c", profile]), first);
}
