-- OneID (统一ID) over the retail demo: run after `tagfusion demo`, on the same warehouse:
--   tagfusion run examples/identity.sql --format table
--
-- Two sources of identities: member records (member number + phone) and app logins (device +
-- phone). Identifiers in one row belong together; the groups of linked identifiers are people.

CREATE OR REPLACE IDENTITY GRAPH person
  DESCRIPTION '统一ID: 会员 + App 登录'
  MAX GROUP SIZE 20                      -- a "person" with more identifiers is a linking error
  MAX PER GROUP (member_id 5)            -- at most five member accounts per person
  BLOCK phone IN ('13800000000')         -- the QA team's test phone links nothing
  PRIORITY (member_id, phone, device_id) -- when a group breaks a limit, device links give way first
  FROM (SELECT customer_id AS member_id, phone FROM customers),
       (SELECT device_id, phone FROM app_logins);

REFRESH IDENTITY GRAPH person;

-- What was linked, and what was refused.
DESCRIBE IDENTITY GRAPH person;
SELECT id_type, count(*) AS identifiers, count(DISTINCT one_id) AS people
FROM identity.person GROUP BY 1 ORDER BY 1;

-- Unified people are an entity like any other: profile them across their member accounts.
CREATE OR REPLACE ENTITY person KEY one_id FROM (SELECT DISTINCT one_id FROM identity.person)
  DESCRIPTION '统一的人 (one_id)';
CREATE OR REPLACE TAG person.member_accounts CATEGORY '身份' DEFAULT 0
  AS (SELECT one_id, count(*) FROM identity.person WHERE id_type = 'member_id' GROUP BY one_id);
CREATE OR REPLACE TAG person.devices CATEGORY '身份' DEFAULT 0
  AS (SELECT one_id, count(*) FROM identity.person WHERE id_type = 'device_id' GROUP BY one_id);
CREATE OR REPLACE TAG person.spend_365d CATEGORY '价值' DEFAULT 0
  AS (SELECT p.one_id, sum(o.amount) FROM identity.person p
      JOIN orders o ON p.id_type = 'member_id' AND o.customer_id = p.id
      WHERE o.ts > as_of() - INTERVAL '365 days' AND o.ts <= as_of() GROUP BY p.one_id);
CREATE OR REPLACE TAG person.app_only CATEGORY '身份' AS member_accounts = 0;
CREATE OR REPLACE TAG person.household CATEGORY '身份' AS member_accounts >= 2;

REFRESH ENTITY person AS OF TIMESTAMP '2026-07-01 00:00:00';

SELECT member_accounts, count(*) AS people, sum(devices) AS devices,
       round(avg(spend_365d)) AS avg_spend_365d
FROM person.profile GROUP BY 1 ORDER BY 1;
