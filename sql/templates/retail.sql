-- TagFusion retail template (零售客户画像模板)
--
-- Expects four tables (the demo creates them; point them at your own data the same way):
--   customers(customer_id, sex, birth_date, city_name, lat, lon, signup_at, member_level_code, phone)
--   orders(order_id, customer_id, store_id, ts, amount, discount, category, channel)
--   stores(store_id, city_name, lat, lon, opened_at)
--   app_events(customer_id, ts, event)
-- Every time window is relative to as_of(), so REFRESH ENTITY … AS OF backfills correctly.

CREATE OR REPLACE ENTITY customer KEY customer_id FROM customers
  DESCRIPTION '零售客户 (retail customer)';

-- 基础属性 · attributes of the customer row -------------------------------------------------
CREATE OR REPLACE TAG customer.gender CATEGORY '基础属性/人口' DESCRIPTION '性别' OWNER 'crm-team'
  AS CASE sex WHEN 'F' THEN '女' WHEN 'M' THEN '男' ELSE '未知' END;

CREATE OR REPLACE TAG customer.age CATEGORY '基础属性/人口' DESCRIPTION '年龄 (周岁)' OWNER 'crm-team'
  AS CAST(floor(days_since(birth_date) / 365.25) AS BIGINT);

CREATE OR REPLACE TAG customer.age_band CATEGORY '基础属性/人口' DESCRIPTION '年龄段' OWNER 'crm-team'
  AS CASE WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44'
          WHEN age < 55 THEN '45-54' ELSE '55+' END;

CREATE OR REPLACE TAG customer.city CATEGORY '基础属性/地域' DESCRIPTION '常住城市' OWNER 'crm-team'
  AS city_name;

CREATE OR REPLACE TAG customer.city_tier CATEGORY '基础属性/地域' DESCRIPTION '城市等级' OWNER 'crm-team'
  AS CASE WHEN city IN ('北京', '上海', '广州', '深圳') THEN '一线'
          WHEN city IN ('杭州', '成都', '武汉', '南京', '西安', '重庆', '苏州', '天津') THEN '新一线'
          ELSE '其他' END;

CREATE OR REPLACE TAG customer.nearest_store_m CATEGORY '基础属性/地域' DESCRIPTION '距最近门店的距离 (米, 同城门店)' OWNER 'o2o-team'
  AS (SELECT c.customer_id, round(min(geo_distance_m(c.lat, c.lon, s.lat, s.lon)))
      FROM customers c JOIN stores s ON s.city_name = c.city_name AND s.opened_at <= as_of()
      GROUP BY c.customer_id);

CREATE OR REPLACE TAG customer.member_level CATEGORY '基础属性/会员' DESCRIPTION '会员等级' OWNER 'crm-team'
  DEFAULT '普通'
  AS CASE member_level_code WHEN 1 THEN '普通' WHEN 2 THEN '银卡' WHEN 3 THEN '金卡' WHEN 4 THEN '钻石' END;

CREATE OR REPLACE TAG customer.tenure_days CATEGORY '基础属性/会员' DESCRIPTION '注册天数' OWNER 'crm-team'
  AS days_since(signup_at);

CREATE OR REPLACE TAG customer.phone_number CATEGORY '基础属性/联系方式' DESCRIPTION '手机号' OWNER 'crm-team'
  SENSITIVE AS phone;

-- 行为/购买 · purchase statistics -------------------------------------------------------------
CREATE OR REPLACE TAG customer.orders_30d CATEGORY '行为/购买' DESCRIPTION '近30天订单数' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, count(*) FROM orders
      WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.orders_180d CATEGORY '行为/购买' DESCRIPTION '近180天订单数 (trades_6m)' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, count(*) FROM orders
      WHERE ts > as_of() - INTERVAL '180 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.orders_365d CATEGORY '行为/购买' DESCRIPTION '近一年订单数 (F)' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, count(*) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.spend_365d CATEGORY '行为/购买' DESCRIPTION '近一年消费金额 (M, 元)' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, round(sum(amount), 2) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.avg_order_value_365d CATEGORY '行为/购买' DESCRIPTION '近一年客单价 (元)' OWNER 'growth-team'
  AS (SELECT customer_id, round(avg(amount), 2) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.first_order_at CATEGORY '行为/购买' DESCRIPTION '首单时间' OWNER 'growth-team'
  AS (SELECT customer_id, min(ts) FROM orders WHERE ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.last_order_at CATEGORY '行为/购买' DESCRIPTION '最近一次下单时间' OWNER 'growth-team'
  AS (SELECT customer_id, max(ts) FROM orders WHERE ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.recency_days CATEGORY '行为/购买' DESCRIPTION '距最近一次下单天数 (R)' OWNER 'growth-team'
  AS days_since(last_order_at);

-- 行为/偏好 · preferences ----------------------------------------------------------------------
CREATE OR REPLACE TAG customer.favorite_category CATEGORY '行为/偏好' DESCRIPTION '近一年最常购买品类' OWNER 'growth-team'
  AS (SELECT customer_id, category FROM (
        SELECT customer_id, category,
               row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, category) AS rn
        FROM orders WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of()
        GROUP BY customer_id, category) AS ranked
      WHERE rn = 1);

CREATE OR REPLACE TAG customer.top_categories_365d CATEGORY '行为/偏好' DESCRIPTION '近一年购买最多的3个品类 (列表)' OWNER 'growth-team'
  AS (SELECT customer_id, array_agg(category ORDER BY n DESC, category) FROM (
        SELECT customer_id, category, count(*) AS n,
               row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, category) AS rn
        FROM orders WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of()
        GROUP BY customer_id, category) AS ranked
      WHERE rn <= 3 GROUP BY customer_id);

CREATE OR REPLACE TAG customer.distinct_categories_365d CATEGORY '行为/偏好' DESCRIPTION '近一年购买品类数' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, count(DISTINCT category) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.preferred_channel CATEGORY '行为/偏好' DESCRIPTION '近一年最常用下单渠道' OWNER 'growth-team'
  AS (SELECT customer_id, channel FROM (
        SELECT customer_id, channel,
               row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, channel) AS rn
        FROM orders WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of()
        GROUP BY customer_id, channel) AS ranked
      WHERE rn = 1);

CREATE OR REPLACE TAG customer.coupon_order_share CATEGORY '行为/偏好' DESCRIPTION '近一年用券订单占比 (促销敏感度)' OWNER 'growth-team'
  AS (SELECT customer_id, round(avg(CASE WHEN discount > 0 THEN 1.0 ELSE 0.0 END), 3) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

-- 行为/APP · app activity ----------------------------------------------------------------------
CREATE OR REPLACE TAG customer.app_active_days_30d CATEGORY '行为/APP' DESCRIPTION '近30天APP活跃天数' OWNER 'app-team'
  DEFAULT 0
  AS (SELECT customer_id, count(DISTINCT CAST(ts AS DATE)) FROM app_events
      WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.app_activity_level CATEGORY '行为/APP' DESCRIPTION 'APP活跃度: 近30天活跃≥15天高, ≥5天中, >0低, 0沉默' OWNER 'app-team'
  AS activity_level(app_active_days_30d, 15, 5);

CREATE OR REPLACE TAG customer.purchase_gap_days CATEGORY '行为/购买' DESCRIPTION '平均购买间隔天数 (至少两单)' OWNER 'growth-team'
  AS (SELECT customer_id, date_part('epoch', max(ts) - min(ts)) / 86400.0 / (count(*) - 1) FROM orders
      WHERE ts <= as_of() GROUP BY customer_id HAVING count(*) >= 2);

CREATE OR REPLACE TAG customer.churn_warning CATEGORY '生命周期/预警' DESCRIPTION '流失预警: 距上次购买超过平均间隔的2倍' OWNER 'growth-team'
  AS churn_warning(recency_days, purchase_gap_days, 2);

-- 价值 · rules over other tags -----------------------------------------------------------------
CREATE OR REPLACE TAG customer.important_customer CATEGORY '价值/等级' DESCRIPTION '重要客户: 近半年交易≥3次或年消费≥5000元' OWNER 'crm-team'
  AS orders_180d >= 3 OR spend_365d >= 5000;

CREATE OR REPLACE TAG customer.inactive_30d CATEGORY '生命周期/活跃' DESCRIPTION '近30天无下单且无APP活跃' OWNER 'growth-team'
  AS orders_30d = 0 AND app_active_days_30d = 0;

CREATE OR REPLACE TAG customer.lifecycle_stage CATEGORY '生命周期/阶段' DESCRIPTION '生命周期阶段 (潜在/引入/成长/成熟/休眠/流失): 首单≤30天引入, 末单>180天流失, >90天休眠, 半年≥6单成熟' OWNER 'growth-team'
  AS lifecycle_stage(first_order_at, last_order_at, orders_180d, 30, 90, 180, 6);

-- 模型 · computed over the whole population ------------------------------------------------------
CREATE OR REPLACE TAG customer.rfm_code KIND model CATEGORY '价值/RFM' DESCRIPTION 'R/F/M 高低 (对比总体均值), 如 HHL' OWNER 'data-science'
  AS CASE WHEN recency_days IS NULL THEN NULL ELSE concat(
       CASE WHEN recency_days <= avg(recency_days) OVER () THEN 'H' ELSE 'L' END,
       CASE WHEN orders_365d >= avg(orders_365d) OVER () THEN 'H' ELSE 'L' END,
       CASE WHEN spend_365d >= avg(spend_365d) OVER () THEN 'H' ELSE 'L' END) END;

CREATE OR REPLACE TAG customer.rfm_class CATEGORY '价值/RFM' DESCRIPTION 'RFM 八类客户 (R/F/M 对比总体均值)' OWNER 'data-science'
  AS rfm_class(substr(rfm_code, 1, 1) = 'H', substr(rfm_code, 2, 1) = 'H', substr(rfm_code, 3, 1) = 'H');

CREATE OR REPLACE TAG customer.spend_decile KIND model CATEGORY '价值/RFM' DESCRIPTION '年消费十分位 (1=最低, 10=最高)' OWNER 'data-science'
  AS ntile(10) OVER (ORDER BY spend_365d, customer_id);

-- 客群 · segments: views over the latest profile ---------------------------------------------------
CREATE OR REPLACE SEGMENT customer.inactive_retail DESCRIPTION '30天未活跃的零售客户 (有过购买)'
  AS inactive_30d AND first_order_at IS NOT NULL;

CREATE OR REPLACE SEGMENT customer.high_value DESCRIPTION '高价值: RFM 重要价值/重要保持客户'
  AS rfm_class IN ('重要价值客户', '重要保持客户');

CREATE OR REPLACE SEGMENT customer.win_back DESCRIPTION '待挽回: 高价值中已休眠或流失的客户'
  AS high_value AND lifecycle_stage IN ('休眠', '流失');

CREATE OR REPLACE SEGMENT customer.coupon_lovers DESCRIPTION '促销敏感: 半数以上订单用券'
  AS coupon_order_share >= 0.5;

-- 地图圈选 · map-based segment: customers living within 3 km of a store of their city.
CREATE OR REPLACE SEGMENT customer.near_store DESCRIPTION '门店3公里内的客户 (地图圈选)'
  AS nearest_store_m <= 3000;

CREATE OR REPLACE SEGMENT customer.new_customers DESCRIPTION '新客: 首单在30天内'
  AS lifecycle_stage = '引入';

CREATE OR REPLACE SEGMENT customer.near_store_inactive DESCRIPTION '门店附近但30天未活跃: 到店唤醒'
  AS near_store AND inactive_retail;
