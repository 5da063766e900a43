//! A deterministic synthetic retail-banking / wealth-management data set (金融客户画像):
//! clients, their holdings, transactions over two years and referrals, written as Parquet.
//!
//! Generated with SQL on the engine itself: every random draw is `ab_group(key, salt, n)` —
//! a stable hash of the key and a salt into `0..n` — so the same `clients` always gives the same
//! files, on any machine, without a random generator.

use crate::engine::Engine;
use crate::error::Result;

/// Seconds since the epoch of the start of the data (2024-07-02 00:00 UTC) and its length.
const START_S: i64 = 1_719_878_400;
const DAYS: i64 = 730;

/// The tables, in the order they are generated (later ones read the `clients` table).
pub const TABLES: [&str; 4] = ["clients", "holdings", "transactions", "referrals"];

const CITIES: &str = "make_array('上海', '北京', '广州', '深圳', '杭州', '成都', '武汉', '南京', '西安', '重庆', '苏州', '长沙', '厦门', '昆明')";

fn clients(n: usize) -> String {
    format!(
        "SELECT client_id, sex, birth_date, city_name, risk_level, opened_at, phone,
                '310101' || to_char(birth_date, '%Y%m%d') || lpad(CAST(ab_group(client_id, 'idn', 10000) AS VARCHAR), 4, '0') AS id_number
         FROM (
           SELECT client_id,
                  CASE WHEN ab_group(client_id, 'sex', 100) < 48 THEN 'M' ELSE 'F' END AS sex,
                  CAST(CAST(-4932 + ab_group(client_id, 'birth', 17500) AS INT) AS DATE) AS birth_date,
                  {CITIES}[1 + CASE WHEN ab_group(client_id, 'tier1', 100) < 55 THEN ab_group(client_id, 'city', 4)
                                    ELSE ab_group(client_id, 'city', 14) END] AS city_name,
                  CAST(CASE WHEN r < 15 THEN 1 WHEN r < 45 THEN 2 WHEN r < 75 THEN 3 WHEN r < 92 THEN 4 ELSE 5 END AS INT) AS risk_level,
                  CAST(to_timestamp_seconds(1467331200 + ab_group(client_id, 'open', 3650) * 86400
                                            + ab_group(client_id, 'open_s', 86400)) AS TIMESTAMP) AS opened_at,
                  '1' || CAST(3 + ab_group(client_id, 'p1', 7) AS VARCHAR)
                      || lpad(CAST(ab_group(client_id, 'phone', 1000000000) AS VARCHAR), 9, '0') AS phone
           FROM (SELECT 'F' || lpad(CAST(value AS VARCHAR), 7, '0') AS client_id,
                        ab_group('F' || lpad(CAST(value AS VARCHAR), 7, '0'), 'risk', 100) AS r
                 FROM generate_series(1, {n})))
         ORDER BY client_id"
    )
}

/// Deposits for most, funds more often for risk-seeking clients; balances log-uniform with a
/// skewed per-client wealth level: about half 大众 (< 5万), a third 潜力, a tenth 贵宾, 1–2 % 私行.
const HOLDINGS: &str = "
SELECT c.client_id, p.product_type,
       round(power(10, 2.6 + ab_group(c.client_id, 'bal_' || p.product_type, 10000) / 10000.0 * 2.4
                        + 2.2 * power(ab_group(c.client_id, 'wealth', 1000) / 1000.0, 3)), 2) AS balance
FROM clients c
CROSS JOIN (VALUES ('deposit', 90), ('wealth', 30), ('fund', 25), ('insurance', 15), ('gold', 8)) AS p(product_type, pct)
WHERE ab_group(c.client_id, 'hold_' || p.product_type, 100)
      < p.pct + CASE WHEN p.product_type = 'fund' THEN (c.risk_level - 2) * 12 ELSE 0 END
ORDER BY c.client_id, p.product_type";

fn transactions() -> String {
    format!(
        "SELECT CAST(substr(client_id, 2) AS BIGINT) * 100 + k AS txn_id, client_id,
                CAST(to_timestamp_seconds({START_S} + (first_day + ab_group(tk, 'day', greatest(last_day - first_day, 1))) * 86400
                                          + ab_group(tk, 'second', 86400)) AS TIMESTAMP) AS ts,
                round(power(10, 2.0 + ab_group(tk, 'amount', 10000) / 10000.0 * 3.5), 2) AS amount,
                CASE WHEN ab_group(tk, 'direction', 100) < 55 THEN 'in' ELSE 'out' END AS direction,
                make_array('app', 'app', 'app', 'counter', 'atm', 'online')[1 + ab_group(tk, 'channel', 6)] AS channel,
                make_array('deposit', 'deposit', 'card', 'card', 'fund', 'wealth', 'gold', 'insurance')[1 + ab_group(tk, 'product', 8)] AS product_type
         FROM (
           SELECT client_id, k, client_id || '#' || CAST(k AS VARCHAR) AS tk, activity,
                  greatest(0, CAST(floor((date_part('epoch', opened_at) - {START_S}) / 86400) AS BIGINT)) AS first_day,
                  CASE WHEN ab_group(client_id, 'dormant', 100) < 30 THEN ab_group(client_id, 'dormant_day', {DAYS})
                       ELSE {DAYS} END AS last_day
           FROM (SELECT client_id, opened_at, ab_group(client_id, 'activity', 300) AS activity FROM clients)
           CROSS JOIN (SELECT value AS k FROM generate_series(1, 60)))
         WHERE ab_group(tk, 'txn', 1000) < activity AND last_day > first_day
         ORDER BY client_id, k"
    )
}

/// About one client in eight refers one to four others.
fn referrals(n: usize) -> String {
    format!(
        "SELECT client_id AS referrer_id,
                'F' || lpad(CAST(1 + ab_group(client_id || '#' || CAST(k AS VARCHAR), 'referee', {n}) AS VARCHAR), 7, '0') AS referee_id,
                CAST(to_timestamp_seconds({START_S} + ab_group(client_id || '#' || CAST(k AS VARCHAR), 'ref_ts', {DAYS} * 86400)) AS TIMESTAMP) AS ts
         FROM clients CROSS JOIN (SELECT value AS k FROM generate_series(1, 4))
         WHERE ab_group(client_id, 'referrer', 100) < 12 AND k <= 1 + ab_group(client_id, 'ref_n', 4)
         ORDER BY referrer_id, k"
    )
}

/// Writes the four tables under `dir` (one Parquet file each) and registers them. Returns the
/// rows per table. `tick` is called with the number of tables done.
pub async fn generate(
    engine: &Engine,
    data: &super::DemoData<'_>,
    clients_n: usize,
    mut tick: impl FnMut(usize),
) -> Result<Vec<(&'static str, usize)>> {
    let mut counts = Vec::new();
    for (i, table) in TABLES.iter().enumerate() {
        let query = match *table {
            "clients" => clients(clients_n),
            "holdings" => HOLDINGS.to_string(),
            "transactions" => transactions(),
            _ => referrals(clients_n),
        };
        let written = data.copy_query(engine, table, &query).await?;
        counts.push((*table, written));
        tick(i + 1);
    }
    Ok(counts)
}
