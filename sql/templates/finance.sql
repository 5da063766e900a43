-- TagFusion finance template (零售银行/财富管理客户画像模板)
--
-- Expects four tables (`tagfusion demo --industry finance` creates them; point them at your own
-- data the same way):
--   clients(client_id, sex, birth_date, city_name, risk_level, opened_at, phone, id_number)
--   holdings(client_id, product_type, balance)                       -- current positions
--   transactions(txn_id, client_id, ts, amount, direction, channel, product_type)
--   referrals(referrer_id, referee_id, ts)
-- Every time window is relative to as_of(), so REFRESH ENTITY … AS OF backfills correctly.

CREATE OR REPLACE ENTITY client KEY client_id FROM clients
  DESCRIPTION '零售银行客户 (retail banking client)';

-- 基础属性 · attributes ----------------------------------------------------------------------
CREATE OR REPLACE TAG client.gender CATEGORY '基础属性/人口' DESCRIPTION '性别' OWNER 'crm-team'
  AS CASE sex WHEN 'F' THEN '女' WHEN 'M' THEN '男' ELSE '未知' END;

CREATE OR REPLACE TAG client.age CATEGORY '基础属性/人口' DESCRIPTION '年龄 (周岁)' OWNER 'crm-team'
  AS CAST(floor(days_since(birth_date) / 365.25) AS BIGINT);

CREATE OR REPLACE TAG client.age_band CATEGORY '基础属性/人口' DESCRIPTION '年龄段' OWNER 'crm-team'
  AS CASE WHEN age < 30 THEN '22-29' WHEN age < 40 THEN '30-39' WHEN age < 50 THEN '40-49'
          WHEN age < 60 THEN '50-59' ELSE '60+' END;

CREATE OR REPLACE TAG client.city CATEGORY '基础属性/地域' DESCRIPTION '开户城市' OWNER 'crm-team'
  AS city_name;

CREATE OR REPLACE TAG client.risk_preference CATEGORY '基础属性/风险' DESCRIPTION '风险测评等级 (C1 保守 … C5 激进)' OWNER 'compliance'
  AS CASE risk_level WHEN 1 THEN 'C1 保守型' WHEN 2 THEN 'C2 稳健型' WHEN 3 THEN 'C3 平衡型'
                     WHEN 4 THEN 'C4 成长型' WHEN 5 THEN 'C5 进取型' END;

CREATE OR REPLACE TAG client.tenure_years CATEGORY '基础属性/账户' DESCRIPTION '开户年限' OWNER 'crm-team'
  AS CAST(floor(days_since(opened_at) / 365.25) AS BIGINT);

CREATE OR REPLACE TAG client.phone_number CATEGORY '基础属性/联系方式' DESCRIPTION '手机号' OWNER 'crm-team'
  SENSITIVE AS phone;

CREATE OR REPLACE TAG client.id_number_masked CATEGORY '基础属性/联系方式' DESCRIPTION '身份证号 (脱敏)' OWNER 'compliance'
  AS mask_id(id_number);

-- 资产 · assets under management -------------------------------------------------------------
CREATE OR REPLACE TAG client.aum CATEGORY '资产/规模' DESCRIPTION '资产规模 AUM (元)' OWNER 'wealth-team'
  DEFAULT 0
  AS (SELECT client_id, round(sum(balance), 2) FROM holdings GROUP BY client_id);

CREATE OR REPLACE TAG client.aum_tier CATEGORY '资产/规模' DESCRIPTION '客户分层: AUM≥600万私行, ≥50万贵宾, ≥5万潜力, 其余大众' OWNER 'wealth-team'
  AS CASE WHEN aum >= 6000000 THEN '私行' WHEN aum >= 500000 THEN '贵宾'
          WHEN aum >= 50000 THEN '潜力' ELSE '大众' END;

CREATE OR REPLACE TAG client.held_products CATEGORY '资产/持仓' DESCRIPTION '持有产品 (列表)' OWNER 'wealth-team'
  AS (SELECT client_id, unique_list(product_type) FROM holdings WHERE balance > 0 GROUP BY client_id);

CREATE OR REPLACE TAG client.product_count CATEGORY '资产/持仓' DESCRIPTION '持有产品种类数' OWNER 'wealth-team'
  DEFAULT 0
  AS (SELECT client_id, unique_count(product_type) FROM holdings WHERE balance > 0 GROUP BY client_id);

CREATE OR REPLACE TAG client.holds_fund CATEGORY '资产/持仓' DESCRIPTION '是否持有基金' OWNER 'wealth-team'
  AS coalesce(array_has(held_products, 'fund'), false);

-- 行为/交易 · transactions ----------------------------------------------------------------------
CREATE OR REPLACE TAG client.trades_6m CATEGORY '行为/交易' DESCRIPTION '近6个月投资交易笔数 (基金/理财/黄金)' OWNER 'wealth-team'
  DEFAULT 0
  AS (SELECT client_id, count(*) FROM transactions
      WHERE product_type IN ('fund', 'wealth', 'gold') AND ts > as_of() - INTERVAL '180 days' AND ts <= as_of()
      GROUP BY client_id);

CREATE OR REPLACE TAG client.txn_count_365d CATEGORY '行为/交易' DESCRIPTION '近一年交易笔数 (F)' OWNER 'ops-team'
  DEFAULT 0
  AS (SELECT client_id, count(*) FROM transactions
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY client_id);

CREATE OR REPLACE TAG client.net_inflow_90d CATEGORY '行为/交易' DESCRIPTION '近90天资金净流入 (元)' OWNER 'ops-team'
  DEFAULT 0
  AS (SELECT client_id, round(sum(CASE WHEN direction = 'in' THEN amount ELSE -amount END), 2) FROM transactions
      WHERE ts > as_of() - INTERVAL '90 days' AND ts <= as_of() GROUP BY client_id);

CREATE OR REPLACE TAG client.first_txn_at CATEGORY '行为/交易' DESCRIPTION '首笔交易时间' OWNER 'ops-team'
  AS (SELECT client_id, min(ts) FROM transactions WHERE ts <= as_of() GROUP BY client_id);

CREATE OR REPLACE TAG client.last_txn_at CATEGORY '行为/交易' DESCRIPTION '最近一笔交易时间' OWNER 'ops-team'
  AS (SELECT client_id, max(ts) FROM transactions WHERE ts <= as_of() GROUP BY client_id);

CREATE OR REPLACE TAG client.days_since_last_txn CATEGORY '行为/交易' DESCRIPTION '距最近一笔交易天数 (R)' OWNER 'ops-team'
  AS days_since(last_txn_at);

CREATE OR REPLACE TAG client.txn_gap_days CATEGORY '行为/交易' DESCRIPTION '平均交易间隔天数 (至少两笔)' OWNER 'ops-team'
  AS (SELECT client_id, (date_part('epoch', max(ts)) - date_part('epoch', min(ts))) / 86400.0 / (count(*) - 1) FROM transactions
      WHERE ts <= as_of() GROUP BY client_id HAVING count(*) >= 2);

CREATE OR REPLACE TAG client.active_months_365d CATEGORY '行为/交易' DESCRIPTION '近一年有交易的月份数' OWNER 'ops-team'
  DEFAULT 0
  AS (SELECT client_id, unique_count(date_trunc('month', ts)) FROM transactions
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY client_id);

-- 行为/偏好 · preferences -----------------------------------------------------------------------
CREATE OR REPLACE TAG client.main_channel CATEGORY '行为/偏好' DESCRIPTION '近一年最常用交易渠道' OWNER 'ops-team'
  AS (SELECT client_id, most_frequent(channel) FROM transactions
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY client_id);

CREATE OR REPLACE TAG client.top_products_365d CATEGORY '行为/偏好' DESCRIPTION '近一年交易最多的2类产品 (列表)' OWNER 'wealth-team'
  AS (SELECT client_id, top_n(product_type, 2) FROM transactions
      WHERE ts > as_of() - INTERVAL '365 days' AND ts <= as_of() GROUP BY client_id);

-- 社交 · referrals ------------------------------------------------------------------------------
CREATE OR REPLACE TAG client.referrals CATEGORY '社交/推荐' DESCRIPTION '累计推荐开户人数' OWNER 'growth-team'
  DEFAULT 0
  AS (SELECT referrer_id AS client_id, unique_count(referee_id) FROM referrals
      WHERE ts <= as_of() GROUP BY referrer_id);

-- 价值 · rules --------------------------------------------------------------------------------
CREATE OR REPLACE TAG client.important_customer CATEGORY '价值/等级' DESCRIPTION '重要客户: 近6个月投资交易≥3次或推荐≥2人' OWNER 'crm-team'
  AS trades_6m >= 3 OR referrals >= 2;

CREATE OR REPLACE TAG client.dormant CATEGORY '生命周期/活跃' DESCRIPTION '休眠户: 90天无交易 (含从未交易)' OWNER 'ops-team'
  AS coalesce(days_since_last_txn > 90, true);

CREATE OR REPLACE TAG client.lifecycle_stage CATEGORY '生命周期/阶段' DESCRIPTION '生命周期阶段: 首笔交易≤30天引入, 末笔>180天流失, >90天休眠, 半年≥6笔投资交易成熟' OWNER 'crm-team'
  AS lifecycle_stage(first_txn_at, last_txn_at, trades_6m, 30, 90, 180, 6);

CREATE OR REPLACE TAG client.churn_warning CATEGORY '生命周期/预警' DESCRIPTION '流失预警: 距上次交易超过平均间隔的3倍' OWNER 'crm-team'
  AS churn_warning(days_since_last_txn, txn_gap_days, 3);

-- 模型 · population models -----------------------------------------------------------------------
CREATE OR REPLACE TAG client.r_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'R 评分 1-5 (按五分位, 越近越高)' OWNER 'data-science'
  AS rfm_score(days_since_last_txn, false) OVER ();

CREATE OR REPLACE TAG client.f_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'F 评分 1-5 (近一年交易笔数五分位)' OWNER 'data-science'
  AS rfm_score(txn_count_365d) OVER ();

CREATE OR REPLACE TAG client.m_score KIND model CATEGORY '价值/RFM' DESCRIPTION 'M 评分 1-5 (AUM 五分位)' OWNER 'data-science'
  AS rfm_score(aum) OVER ();

CREATE OR REPLACE TAG client.rfm_class CATEGORY '价值/RFM' DESCRIPTION 'RFM 八类客户 (评分≥3为高)' OWNER 'data-science'
  AS rfm_class(r_score >= 3, f_score >= 3, m_score >= 3);

CREATE OR REPLACE TAG client.value_cluster KIND model CATEGORY '价值/聚类' DESCRIPTION 'k-means 4类 (log AUM, 近一年交易笔数, 年龄; 标准化, 固定种子)' OWNER 'data-science'
  AS kmeans(4, ln(1 + aum), txn_count_365d, age) OVER ();

CREATE OR REPLACE TAG client.campaign_group KIND model CATEGORY '营销/实验' DESCRIPTION '2026年基金营销 A/B 分组: 0-9 对照组 (10%), 其余实验组' OWNER 'growth-team'
  AS CASE WHEN ab_group(client_id, 'fund_campaign_2026', 100) < 10 THEN 'holdout' ELSE 'treatment' END;

-- 客群 · segments ------------------------------------------------------------------------------
CREATE OR REPLACE SEGMENT client.important_clients DESCRIPTION '重要客户 (近6个月投资交易≥3次或推荐≥2人)'
  AS important_customer;

CREATE OR REPLACE SEGMENT client.private_banking DESCRIPTION '私行客户 (AUM≥600万)'
  AS aum_tier = '私行';

CREATE OR REPLACE SEGMENT client.dormant_wealthy DESCRIPTION '沉睡的高净值客户: 贵宾/私行且90天无交易'
  AS aum_tier IN ('贵宾', '私行') AND dormant;

CREATE OR REPLACE SEGMENT client.fund_cross_sell DESCRIPTION '基金交叉销售: 风险等级C3及以上、未持有基金、AUM≥5万、非对照组'
  AS risk_preference >= 'C3' AND NOT holds_fund AND aum >= 50000 AND campaign_group = 'treatment';

CREATE OR REPLACE SEGMENT client.churn_risk DESCRIPTION '流失预警客户'
  AS churn_warning;
