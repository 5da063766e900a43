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
  AS (SELECT customer_id, most_frequent(category) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.top_categories_365d CATEGORY '行为/偏好' DESCRIPTION '近一年购买最多的3个品类 (列表)' OWNER 'growth-team'
  AS (SELECT customer_id, top_n(category, 3) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.distinct_categories_365d CATEGORY '行为/偏好' DESCRIPTION '近一年购买品类数' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT customer_id, count(DISTINCT category) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.preferred_channel CATEGORY '行为/偏好' DESCRIPTION '近一年最常用下单渠道' OWNER 'growth-team'
  AS (SELECT customer_id, most_frequent(channel) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.preferred_daypart CATEGORY '行为/偏好' DESCRIPTION '近一年最常下单时段: 凌晨 0-6, 上午 6-11, 中午 11-14, 下午 14-18, 晚上 18-24 点' OWNER 'growth-team'
  AS (SELECT customer_id, most_frequent(CASE WHEN date_part('hour', ts) < 6 THEN '凌晨'
                                             WHEN date_part('hour', ts) < 11 THEN '上午'
                                             WHEN date_part('hour', ts) < 14 THEN '中午'
                                             WHEN date_part('hour', ts) < 18 THEN '下午' ELSE '晚上' END)
      FROM orders WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.coupon_order_share CATEGORY '行为/偏好' DESCRIPTION '近一年用券订单占比 (促销敏感度)' OWNER 'growth-team'
  AS (SELECT customer_id, round(avg(CASE WHEN discount > 0 THEN 1.0 ELSE 0.0 END), 3) FROM orders
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.promo_sensitivity CATEGORY '行为/偏好' DESCRIPTION '促销敏感度: 用券订单占比≥60%高, ≥30%中, 其余低 (无订单为空)' OWNER 'growth-team'
  AS CASE WHEN coupon_order_share >= 0.6 THEN '高' WHEN coupon_order_share >= 0.3 THEN '中'
          WHEN coupon_order_share IS NOT NULL THEN '低' END;

-- 行为/APP · app activity ----------------------------------------------------------------------
CREATE OR REPLACE TAG customer.app_active_days_30d CATEGORY '行为/APP' DESCRIPTION '近30天APP活跃天数' OWNER 'app-team'
  DEFAULT 0
  AS (SELECT customer_id, count(DISTINCT CAST(ts AS DATE)) FROM app_events
      WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.app_first_seen_at CATEGORY '行为/APP' DESCRIPTION '首次使用APP时间' OWNER 'app-team'
  AS (SELECT customer_id, min(ts) FROM app_events WHERE ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.app_shares_90d CATEGORY '行为/APP' DESCRIPTION '近90天APP分享次数' OWNER 'app-team'
  DEFAULT 0
  AS (SELECT customer_id, count(*) FROM app_events
      WHERE event = 'share' AND ts > as_of() - INTERVAL '90 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.app_cart_funnel_30d CATEGORY '行为/APP' DESCRIPTION '近30天APP加购漏斗: 搜索→浏览→加购, 24小时内走到第几步 (0-3)' OWNER 'app-team'
  DEFAULT 0
  AS (SELECT customer_id, window_funnel(86400, ts, event = 'search', event = 'view', event = 'add_cart')
      FROM app_events WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);

CREATE OR REPLACE TAG customer.app_activity_level CATEGORY '行为/APP' DESCRIPTION 'APP活跃度: 近30天活跃≥15天高, ≥5天中, >0低, 0沉默' OWNER 'app-team'
  AS activity_level(app_active_days_30d, 15, 5);

CREATE OR REPLACE TAG customer.purchase_gap_days CATEGORY '行为/购买' DESCRIPTION '平均购买间隔天数 (至少两单)' OWNER 'growth-team'
  AS (SELECT customer_id, (date_part('epoch', max(ts)) - date_part('epoch', min(ts))) / 86400.0 / (count(*) - 1) FROM orders
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

CREATE OR REPLACE TAG customer.aarrr_stage CATEGORY '生命周期/AARRR' DESCRIPTION 'AARRR 最高阶段: 有购买且近90天分享=传播, 近一年≥2单=变现, 近30天下单或APP活跃=留存, 曾下单或用过APP=激活, 其余=获客' OWNER 'growth-team'
  AS CASE WHEN first_order_at IS NOT NULL AND app_shares_90d > 0 THEN '传播 Referral'
          WHEN orders_365d >= 2 THEN '变现 Revenue'
          WHEN orders_30d > 0 OR app_active_days_30d > 0 THEN '留存 Retention'
          WHEN first_order_at IS NOT NULL OR app_first_seen_at IS NOT NULL THEN '激活 Activation'
          ELSE '获客 Acquisition' END;

-- 模型 · computed over the whole population ------------------------------------------------------
CREATE OR REPLACE TAG customer.rfm_code KIND model CATEGORY '价值/RFM' DESCRIPTION 'R/F/M 高低 (对比总体均值), 如 HHL' OWNER 'data-science'
  AS CASE WHEN recency_days IS NULL THEN NULL ELSE concat(
       CASE WHEN recency_days <= avg(recency_days) OVER () THEN 'H' ELSE 'L' END,
       CASE WHEN orders_365d >= avg(orders_365d) OVER () THEN 'H' ELSE 'L' END,
       CASE WHEN spend_365d >= avg(spend_365d) OVER () THEN 'H' ELSE 'L' END) END;

CREATE OR REPLACE TAG customer.rfm_class CATEGORY '价值/RFM' DESCRIPTION 'RFM 八类客户 (R/F/M 对比总体均值)' OWNER 'data-science'
  AS rfm_class(substr(rfm_code, 1, 1) = 'H', substr(rfm_code, 2, 1) = 'H', substr(rfm_code, 3, 1) = 'H');

CREATE OR REPLACE TAG customer.r_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'R 评分 1-5 (距最近下单天数五分位, 越近越高; 无订单为空)' OWNER 'data-science'
  AS rfm_score(recency_days, false) OVER ();

CREATE OR REPLACE TAG customer.f_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'F 评分 1-5 (近一年订单数五分位)' OWNER 'data-science'
  AS rfm_score(orders_365d) OVER ();

CREATE OR REPLACE TAG customer.m_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'M 评分 1-5 (近一年消费金额五分位)' OWNER 'data-science'
  AS rfm_score(spend_365d) OVER ();

CREATE OR REPLACE TAG customer.spend_decile KIND model CATEGORY '价值/RFM' DESCRIPTION '年消费十分位 (1=最低, 10=最高; 同额同档)' OWNER 'data-science'
  AS quantile_bin(spend_365d, 10) OVER ();

CREATE OR REPLACE TAG customer.value_cluster KIND model CATEGORY '价值/聚类' DESCRIPTION 'k-means 4类 (R, F, M 标准化; 固定种子, 可复现; 无订单为空)' OWNER 'data-science'
  AS kmeans(4, recency_days, orders_365d, spend_365d) OVER ();

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
