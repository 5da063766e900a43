-- DuckDB side of benches/refresh_bench.py: the retail template (sql/templates/retail.sql),
-- written by hand in DuckDB SQL, over the demo's four Parquet tables. One row per customer:
-- customer_id, every tag but value_cluster (k-means has no SQL equivalent; the bench drops
-- that tag on the TagFusion side too), then each segment as a boolean column named
-- "segment:<name>" like TagFusion's profile_history.
--
-- Placeholders, filled in by the driver before running:
--   {demo}   the warehouse's demo/ directory (customers/, orders/, stores/, app_events/)
--   {as_of}  the snapshot's as-of time, 'YYYY-MM-DD HH:MM:SS' (UTC), as in
--            REFRESH ENTITY customer AS OF TIMESTAMP '{as_of}'
--   {out}    the Parquet file to write
-- The driver runs it with SET threads = 2 and SET TimeZone = 'UTC'.
--
-- Each TagFusion function is spelled out in plain SQL next to where the template uses it;
-- the comments name the template's definition. Tag DEFAULTs are coalesce(…) in `profile`.

-- days_since(ts): whole days (floor) from ts to as_of.
CREATE OR REPLACE TEMP MACRO days_since(t) AS
    CAST(floor((epoch_us(TIMESTAMP '{as_of}') - epoch_us(CAST(t AS TIMESTAMP)))
               / CAST(86400000000 AS DOUBLE)) AS BIGINT);

-- geo_distance_m(lat1, lon1, lat2, lon2): haversine, metres, earth radius 6371008.8 m, with
-- the same operation order as udfs/src/geo/distance.rs (degrees × (π / 180)).
CREATE OR REPLACE TEMP MACRO radians_of(d) AS d * (pi() / CAST(180 AS DOUBLE));
CREATE OR REPLACE TEMP MACRO haversine_a(p1, p2, dp, dl) AS
    sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * (sin(dl / 2) * sin(dl / 2));
CREATE OR REPLACE TEMP MACRO geo_distance_m(lat1, lon1, lat2, lon2) AS
    2 * CAST(6371008.8 AS DOUBLE) * asin(least(sqrt(haversine_a(
        radians_of(lat1), radians_of(lat2), radians_of(lat2) - radians_of(lat1),
        radians_of(lon2 - lon1))), 1));

-- quantile_bin(x, n) OVER (): 1 + floor(n × (non-NULL values strictly below x) / (non-NULL
-- values)); equal values share a bin, NULL stays NULL. rank() - 1 counts the values below.
CREATE OR REPLACE TEMP MACRO quantile_bin_of(x, below, nonnull, n) AS
    CASE WHEN x IS NOT NULL THEN below * n // nonnull + 1 END;

COPY (
WITH
customers AS (SELECT * FROM read_parquet('{demo}/customers/*.parquet')),
stores AS (SELECT * FROM read_parquet('{demo}/stores/*.parquet')),

-- Orders up to as_of, flagged for the one-year window most order tags use.
orders AS (
    SELECT customer_id, ts, amount, discount, category, channel,
           ts > TIMESTAMP '{as_of}' - INTERVAL 365 DAY AS in_365d
    FROM read_parquet('{demo}/orders/*.parquet')
    WHERE ts <= TIMESTAMP '{as_of}'
),

-- orders_30d, orders_180d, orders_365d, spend_365d, avg_order_value_365d, first_order_at,
-- last_order_at, distinct_categories_365d, coupon_order_share, purchase_gap_days.
order_stats AS (
    SELECT customer_id,
           count(*) FILTER (WHERE ts > TIMESTAMP '{as_of}' - INTERVAL 30 DAY) AS orders_30d,
           count(*) FILTER (WHERE ts > TIMESTAMP '{as_of}' - INTERVAL 180 DAY) AS orders_180d,
           count(*) FILTER (WHERE in_365d) AS orders_365d,
           round(sum(amount) FILTER (WHERE in_365d), 2) AS spend_365d,
           round(avg(amount) FILTER (WHERE in_365d), 2) AS avg_order_value_365d,
           min(ts) AS first_order_at,
           max(ts) AS last_order_at,
           count(DISTINCT category) FILTER (WHERE in_365d) AS distinct_categories_365d,
           round(avg(CASE WHEN discount > 0 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END)
                     FILTER (WHERE in_365d), 3) AS coupon_order_share,
           -- date_part('epoch', max(ts) - min(ts)) / 86400.0 / (count(*) - 1), at least 2 orders
           CASE WHEN count(*) >= 2 THEN
               (epoch_us(max(ts)) - epoch_us(min(ts))) / CAST(1000000 AS DOUBLE)
               / CAST(86400 AS DOUBLE) / (count(*) - 1)
           END AS purchase_gap_days
    FROM orders
    GROUP BY customer_id
),

-- most_frequent(x) (ties: smallest value) and top_n(x, 3) (most frequent first, ties: smaller
-- value first) over the year's orders: count each value, then order by count, then value.
category_counts AS (
    SELECT customer_id, category AS value, count(*) AS n
    FROM orders WHERE in_365d GROUP BY customer_id, category
),
category_prefs AS (
    SELECT customer_id,
           first(value ORDER BY n DESC, value) AS favorite_category,
           list(value ORDER BY n DESC, value)[1:3] AS top_categories_365d
    FROM category_counts GROUP BY customer_id
),
channel_counts AS (
    SELECT customer_id, channel AS value, count(*) AS n
    FROM orders WHERE in_365d GROUP BY customer_id, channel
),
channel_prefs AS (
    SELECT customer_id, first(value ORDER BY n DESC, value) AS preferred_channel
    FROM channel_counts GROUP BY customer_id
),
daypart_counts AS (
    SELECT customer_id,
           CASE WHEN hour(ts) < 6 THEN '凌晨' WHEN hour(ts) < 11 THEN '上午'
                WHEN hour(ts) < 14 THEN '中午' WHEN hour(ts) < 18 THEN '下午' ELSE '晚上' END AS value,
           count(*) AS n
    FROM orders WHERE in_365d GROUP BY ALL
),
daypart_prefs AS (
    SELECT customer_id, first(value ORDER BY n DESC, value) AS preferred_daypart
    FROM daypart_counts GROUP BY customer_id
),

-- nearest_store_m: the nearest store of the customer's city open at as_of.
store_distance AS (
    SELECT c.customer_id, round(min(geo_distance_m(c.lat, c.lon, s.lat, s.lon))) AS nearest_store_m
    FROM customers c JOIN stores s ON s.city_name = c.city_name AND s.opened_at <= TIMESTAMP '{as_of}'
    GROUP BY c.customer_id
),

-- App events up to as_of: app_active_days_30d, app_first_seen_at, app_shares_90d.
events AS (
    SELECT customer_id, ts, event
    FROM read_parquet('{demo}/app_events/*.parquet')
    WHERE ts <= TIMESTAMP '{as_of}'
),
app_stats AS (
    SELECT customer_id,
           count(DISTINCT CAST(ts AS DATE)) FILTER (WHERE ts > TIMESTAMP '{as_of}' - INTERVAL 30 DAY)
               AS app_active_days_30d,
           min(ts) AS app_first_seen_at,
           count(*) FILTER (WHERE event = 'share' AND ts > TIMESTAMP '{as_of}' - INTERVAL 90 DAY)
               AS app_shares_90d
    FROM events
    GROUP BY customer_id
),

-- app_cart_funnel_30d: window_funnel(86400, ts, search, view, add_cart) over the last 30 days
-- (ClickHouse windowFunnel, default mode, as udfs/src/aggregates/funnel.rs). Events are taken
-- in (ts, step) order. A search starts a chain; a view reaches step 2 when the latest search
-- at or before it is at most 86400 s earlier, and the chain keeps that search's time; an
-- add_cart reaches step 3 when the latest chain that reached step 2 started at most 86400 s
-- before it. The level is the highest step reached.
funnel_steps AS (
    SELECT customer_id, ts,
           CASE event WHEN 'search' THEN 1 WHEN 'view' THEN 2 ELSE 3 END AS step
    FROM events
    WHERE ts > TIMESTAMP '{as_of}' - INTERVAL 30 DAY AND event IN ('search', 'view', 'add_cart')
),
funnel_searches AS (
    SELECT *,
           max(CASE WHEN step = 1 THEN ts END) OVER (
               PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS search_start
    FROM funnel_steps
),
funnel_views AS (
    SELECT *,
           CASE WHEN step = 2 AND ts <= search_start + INTERVAL 86400 SECOND THEN search_start END
               AS view_chain_start
    FROM funnel_searches
),
funnel_chains AS (
    SELECT *,
           max(view_chain_start) OVER (
               PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS view_start
    FROM funnel_views
),
funnel AS (
    SELECT customer_id,
           max(CASE WHEN step = 3 AND ts <= view_start + INTERVAL 86400 SECOND THEN 3
                    WHEN view_chain_start IS NOT NULL THEN 2
                    WHEN step = 1 THEN 1
                    ELSE 0 END) AS app_cart_funnel_30d
    FROM funnel_chains
    GROUP BY customer_id
),

-- Attribute and statistic tags, with their DEFAULTs.
profile AS (
    SELECT c.customer_id,
           CASE c.sex WHEN 'F' THEN '女' WHEN 'M' THEN '男' ELSE '未知' END AS gender,
           CAST(floor(days_since(c.birth_date) / CAST(365.25 AS DOUBLE)) AS BIGINT) AS age,
           c.city_name AS city,
           d.nearest_store_m,
           coalesce(CASE c.member_level_code WHEN 1 THEN '普通' WHEN 2 THEN '银卡'
                         WHEN 3 THEN '金卡' WHEN 4 THEN '钻石' END, '普通') AS member_level,
           days_since(c.signup_at) AS tenure_days,
           c.phone AS phone_number,
           coalesce(o.orders_30d, 0) AS orders_30d,
           coalesce(o.orders_180d, 0) AS orders_180d,
           coalesce(o.orders_365d, 0) AS orders_365d,
           coalesce(o.spend_365d, 0) AS spend_365d,
           o.avg_order_value_365d,
           o.first_order_at,
           o.last_order_at,
           cp.favorite_category,
           cp.top_categories_365d,
           coalesce(o.distinct_categories_365d, 0) AS distinct_categories_365d,
           ch.preferred_channel,
           dp.preferred_daypart,
           o.coupon_order_share,
           coalesce(a.app_active_days_30d, 0) AS app_active_days_30d,
           a.app_first_seen_at,
           coalesce(a.app_shares_90d, 0) AS app_shares_90d,
           coalesce(f.app_cart_funnel_30d, 0) AS app_cart_funnel_30d,
           o.purchase_gap_days
    FROM customers c
    LEFT JOIN store_distance d USING (customer_id)
    LEFT JOIN order_stats o USING (customer_id)
    LEFT JOIN category_prefs cp USING (customer_id)
    LEFT JOIN channel_prefs ch USING (customer_id)
    LEFT JOIN daypart_prefs dp USING (customer_id)
    LEFT JOIN app_stats a USING (customer_id)
    LEFT JOIN funnel f USING (customer_id)
),

-- Rule tags: expressions over the tags above.
rules AS (
    SELECT *,
           CASE WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44'
                WHEN age < 55 THEN '45-54' ELSE '55+' END AS age_band,
           CASE WHEN city IN ('北京', '上海', '广州', '深圳') THEN '一线'
                WHEN city IN ('杭州', '成都', '武汉', '南京', '西安', '重庆', '苏州', '天津') THEN '新一线'
                ELSE '其他' END AS city_tier,
           days_since(last_order_at) AS recency_days,
           CASE WHEN coupon_order_share >= 0.6 THEN '高' WHEN coupon_order_share >= 0.3 THEN '中'
                WHEN coupon_order_share IS NOT NULL THEN '低' END AS promo_sensitivity,
           -- activity_level(app_active_days_30d, 15, 5)
           CASE WHEN app_active_days_30d >= 15 THEN '高活跃' WHEN app_active_days_30d >= 5 THEN '中活跃'
                WHEN app_active_days_30d > 0 THEN '低活跃' ELSE '沉默' END AS app_activity_level,
           orders_180d >= 3 OR spend_365d >= 5000 AS important_customer,
           orders_30d = 0 AND app_active_days_30d = 0 AS inactive_30d,
           -- lifecycle_stage(first_order_at, last_order_at, orders_180d, 30, 90, 180, 6)
           CASE WHEN first_order_at IS NULL OR last_order_at IS NULL THEN '潜在'
                WHEN days_since(first_order_at) <= 30 THEN '引入'
                WHEN days_since(last_order_at) > 180 THEN '流失'
                WHEN days_since(last_order_at) > 90 THEN '休眠'
                WHEN orders_180d >= 6 THEN '成熟'
                ELSE '成长' END AS lifecycle_stage,
           CASE WHEN first_order_at IS NOT NULL AND app_shares_90d > 0 THEN '传播 Referral'
                WHEN orders_365d >= 2 THEN '变现 Revenue'
                WHEN orders_30d > 0 OR app_active_days_30d > 0 THEN '留存 Retention'
                WHEN first_order_at IS NOT NULL OR app_first_seen_at IS NOT NULL THEN '激活 Activation'
                ELSE '获客 Acquisition' END AS aarrr_stage
    FROM profile
),
rules2 AS (
    SELECT *,
           -- churn_warning(recency_days, purchase_gap_days, 2): NULL when either is unknown or
           -- the gap is not positive.
           CASE WHEN recency_days IS NOT NULL AND purchase_gap_days > 0
                THEN recency_days > 2 * purchase_gap_days END AS churn_warning
    FROM rules
),

-- Model tags: over the whole population.
models AS (
    SELECT *,
           CASE WHEN recency_days IS NULL THEN NULL ELSE concat(
               CASE WHEN recency_days <= avg(recency_days) OVER () THEN 'H' ELSE 'L' END,
               CASE WHEN orders_365d >= avg(orders_365d) OVER () THEN 'H' ELSE 'L' END,
               CASE WHEN spend_365d >= avg(spend_365d) OVER () THEN 'H' ELSE 'L' END) END AS rfm_code,
           -- rfm_score(recency_days, false): fewer days scores higher
           6 - quantile_bin_of(recency_days, rank() OVER (ORDER BY recency_days ASC NULLS LAST) - 1,
                               count(recency_days) OVER (), 5) AS r_score,
           quantile_bin_of(orders_365d, rank() OVER (ORDER BY orders_365d ASC NULLS LAST) - 1,
                           count(orders_365d) OVER (), 5) AS f_score,
           quantile_bin_of(spend_365d, rank() OVER (ORDER BY spend_365d ASC NULLS LAST) - 1,
                           count(spend_365d) OVER (), 5) AS m_score,
           quantile_bin_of(spend_365d, rank() OVER (ORDER BY spend_365d ASC NULLS LAST) - 1,
                           count(spend_365d) OVER (), 10) AS spend_decile
    FROM rules2
),
models2 AS (
    SELECT *,
           -- rfm_class(R high, F high, M high)
           CASE rfm_code WHEN 'HHH' THEN '重要价值客户' WHEN 'HLH' THEN '重要发展客户'
                         WHEN 'LHH' THEN '重要保持客户' WHEN 'LLH' THEN '重要挽留客户'
                         WHEN 'HHL' THEN '一般价值客户' WHEN 'HLL' THEN '一般发展客户'
                         WHEN 'LHL' THEN '一般保持客户' WHEN 'LLL' THEN '一般挽留客户' END AS rfm_class
    FROM models
),

-- Segments: boolean expressions over the tags (and earlier segments), NULL where SQL says so.
segments AS (
    SELECT *,
           inactive_30d AND first_order_at IS NOT NULL AS inactive_retail,
           rfm_class IN ('重要价值客户', '重要保持客户') AS high_value,
           coupon_order_share >= 0.5 AS coupon_lovers,
           nearest_store_m <= 3000 AS near_store,
           lifecycle_stage = '引入' AS new_customers
    FROM models2
)

SELECT customer_id, gender, age, age_band, city, city_tier, nearest_store_m, member_level,
       tenure_days, phone_number, orders_30d, orders_180d, orders_365d, spend_365d,
       avg_order_value_365d, first_order_at, last_order_at, recency_days, favorite_category,
       top_categories_365d, distinct_categories_365d, preferred_channel, preferred_daypart,
       coupon_order_share, promo_sensitivity, app_active_days_30d, app_first_seen_at,
       app_shares_90d, app_cart_funnel_30d, app_activity_level, purchase_gap_days, churn_warning,
       important_customer, inactive_30d, lifecycle_stage, aarrr_stage, rfm_code, rfm_class,
       r_score, f_score, m_score, spend_decile,
       inactive_retail AS "segment:inactive_retail",
       high_value AS "segment:high_value",
       high_value AND lifecycle_stage IN ('休眠', '流失') AS "segment:win_back",
       coupon_lovers AS "segment:coupon_lovers",
       near_store AS "segment:near_store",
       new_customers AS "segment:new_customers",
       near_store AND inactive_retail AS "segment:near_store_inactive"
FROM segments
ORDER BY customer_id
) TO '{out}' (FORMAT parquet);
