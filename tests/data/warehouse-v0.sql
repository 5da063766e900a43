-- A warehouse written by TagFusion before the typed catalog (issue 15): every tag kind and
-- status, both entity source kinds, a segment, ok and failed refreshes, an identity graph.
CREATE VIEW shop_orders AS
  SELECT * FROM (VALUES ('c1', 120.0, TIMESTAMP '2026-05-01 10:00:00', 'app'),
                        ('c1', 80.0,  TIMESTAMP '2026-06-20 09:00:00', 'web'),
                        ('c2', 15.5,  TIMESTAMP '2026-06-25 12:00:00', 'app'),
                        ('c3', 300.0, TIMESTAMP '2026-01-02 08:00:00', 'store'))
  AS t(customer_id, amount, ts, channel);
CREATE VIEW shop_customers AS
  SELECT * FROM (VALUES ('c1', '上海', 'F'), ('c2', '北京', 'M'), ('c3', '成都', NULL))
  AS t(customer_id, city, gender);
CREATE ENTITY customer KEY customer_id FROM shop_customers DESCRIPTION '客户';
CREATE ENTITY member KEY customer_id FROM (SELECT customer_id FROM shop_customers WHERE city <> '成都');
CREATE TAG customer.city_name CATEGORY '基础/地域' AS city;
CREATE TAG customer.gender_code SENSITIVE AS gender;
CREATE TAG customer.spend_90d CATEGORY '行为/购买' DEFAULT 0
  AS (SELECT customer_id, sum(amount) FROM shop_orders
      WHERE ts > as_of() - INTERVAL '90 days' AND ts <= as_of() GROUP BY customer_id);
CREATE TAG customer.orders_total DEFAULT 0
  AS (SELECT customer_id, count(*) FROM shop_orders GROUP BY customer_id);
CREATE TAG customer.big CATEGORY '价值' AS spend_90d >= 100;
CREATE TAG customer.spend_rank AS rank() OVER (ORDER BY spend_90d DESC);
CREATE TAG customer.retired AS orders_total > 100;
ALTER TAG customer.big SET STATUS approved;
ALTER TAG customer.retired SET STATUS offline;
CREATE TAG member.one AS 1;
CREATE SEGMENT customer.big_shanghai DESCRIPTION '上海大客户' AS big AND city_name = '上海';
REFRESH ENTITY customer AS OF TIMESTAMP '2026-06-30 00:00:00';
REFRESH ENTITY member AS OF TIMESTAMP '2026-06-30 00:00:00';
CREATE VIEW shop_members AS SELECT column1 AS member_id, column2 AS phone FROM (VALUES
  ('M1', '13900002222'), ('M2', '13700004444'));
CREATE IDENTITY GRAPH people DESCRIPTION '统一ID' FROM (SELECT member_id, phone FROM shop_members);
REFRESH IDENTITY GRAPH people;
