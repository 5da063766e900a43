//! Behaviour aggregates against hand-computed values, through SQL, on three execution paths:
//! one group (plain accumulator), GROUP BY (groups accumulator, partial + final merge) and
//! GROUP BY with partial aggregation skipped (every row converted to a state).

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::{funnel_level, retention_flags};
use crate::{register_all, with_config};

/// Events of four customers (hand-checked in the tests below):
/// - c1 views, adds to cart 5 min later, pays 30 min after the view; views again the next day.
/// - c2 adds to cart first, views at 11:00, adds to cart again 46 h after that view.
/// - c3 views, adds to cart 23 h later, pays 25 h after the view (outside a 24 h window); starts
///   again on 06-05 with a view and a payment but no cart.
/// - c4 only pays; its category is unknown.
const EVENTS: &str = "
CREATE TABLE events (customer VARCHAR, ts TIMESTAMP, event VARCHAR, category VARCHAR, amount BIGINT) AS VALUES
 ('c1', TIMESTAMP '2026-06-01 10:00:00', 'view',     'shoes', 10),
 ('c1', TIMESTAMP '2026-06-01 10:05:00', 'add_cart', 'shoes', 10),
 ('c1', TIMESTAMP '2026-06-01 10:30:00', 'pay',      'shoes', 30),
 ('c1', TIMESTAMP '2026-06-02 09:00:00', 'view',     '食品',  10),
 ('c2', TIMESTAMP '2026-06-01 10:00:00', 'add_cart', '食品',  5),
 ('c2', TIMESTAMP '2026-06-01 11:00:00', 'view',     '食品',  5),
 ('c2', TIMESTAMP '2026-06-03 09:00:00', 'add_cart', 'books', 7),
 ('c3', TIMESTAMP '2026-06-01 00:00:00', 'view',     'books', 1),
 ('c3', TIMESTAMP '2026-06-01 23:00:00', 'add_cart', 'toys',  2),
 ('c3', TIMESTAMP '2026-06-02 01:00:00', 'pay',      'books', 2),
 ('c3', TIMESTAMP '2026-06-05 00:00:00', 'view',     'toys',  1),
 ('c3', TIMESTAMP '2026-06-05 02:00:00', 'pay',      NULL,    1),
 ('c4', TIMESTAMP '2026-06-04 12:00:00', 'pay',      NULL,    NULL)";

pub(super) async fn contexts() -> Vec<(&'static str, SessionContext)> {
    let mut out = Vec::new();
    for (name, skip_partial) in [("grouped", false), ("partial skipped", true)] {
        let mut config = with_config(SessionConfig::new().with_target_partitions(3));
        if skip_partial {
            let options = config.options_mut();
            options
                .execution
                .skip_partial_aggregation_probe_rows_threshold = 1;
            options
                .execution
                .skip_partial_aggregation_probe_ratio_threshold = 0.0;
        }
        let mut ctx = SessionContext::new_with_config(config);
        register_all(&mut ctx).expect("register");
        ctx.sql(EVENTS)
            .await
            .expect("create")
            .collect()
            .await
            .expect("insert");
        out.push((name, ctx));
    }
    out
}

/// The result rows, each as its values joined by " | " (NULL as "NULL").
pub(super) async fn table(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in &batches {
        let columns: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = columns.iter().map(|c| c.value(row).to_string()).collect();
            rows.push(values.join(" | "));
        }
    }
    rows
}

pub(super) fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn frequency_aggregates_per_customer() {
    // c3: books and toys twice each → the smaller, books.
    let expected = lines(&[
        "c1 | shoes | [shoes, 食品] | [shoes, 食品] | 2 | 2",
        "c2 | 食品 | [食品, books] | [books, 食品] | 2 | 2",
        "c3 | books | [books, toys] | [books, toys] | 2 | 2",
        "c4 | NULL | NULL | NULL | 0 | 0",
    ]);
    for (path, ctx) in contexts().await {
        let got = table(
            &ctx,
            "SELECT customer, most_frequent(category) AS top, top_n(category, 2) AS top2,
                    unique_list(category) AS uniq, unique_count(category) AS n_uniq,
                    unique_count(amount) AS n_amounts
             FROM events GROUP BY customer ORDER BY customer",
        )
        .await;
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test]
async fn frequency_aggregates_keep_the_argument_type() {
    for (path, ctx) in contexts().await {
        // Integers stay integers; dates stay dates; ties go to the smaller value (c3: 06-01
        // and 06-05 twice each → 06-01).
        let got = table(
            &ctx,
            "SELECT customer, most_frequent(amount) AS amount, arrow_typeof(most_frequent(amount)) AS t,
                    most_frequent(CAST(ts AS DATE)) AS day, unique_count(CAST(ts AS DATE)) AS days
             FROM events GROUP BY customer ORDER BY customer",
        )
        .await;
        let expected = lines(&[
            "c1 | 10 | Int64 | 2026-06-01 | 2",
            "c2 | 5 | Int64 | 2026-06-01 | 2",
            "c3 | 1 | Int64 | 2026-06-01 | 3",
            "c4 | NULL | Int64 | 2026-06-04 | 1",
        ]);
        assert_eq!(got, expected, "{path}");
        // Without GROUP BY: the plain accumulator, same rules. Categories: shoes, 食品 and books
        // 3 times each → books; events: view 5, add_cart 4, pay 4.
        let got = table(
            &ctx,
            "SELECT most_frequent(category) AS top, top_n(event, 3) AS events, unique_count(customer) AS customers FROM events",
        )
        .await;
        let expected = lines(&["books | [view, add_cart, pay] | 4"]);
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test]
async fn funnel_and_retention_follow_clickhouse() {
    // 24 h window: c2's second cart is 46 h after its view, c3's payment 25 h after its view;
    // both count within 72 h. Retention cohort: active on 06-01; then 06-02, 06-03.
    let expected = lines(&[
        "c1 | 3 | 3 | [1, 1, 0] | [0, 0]",
        "c2 | 1 | 2 | [1, 0, 1] | [0, 0]",
        "c3 | 2 | 3 | [1, 1, 0] | [0, 0]",
        "c4 | 0 | 0 | [0, 0, 0] | [0, 0]",
    ]);
    for (path, ctx) in contexts().await {
        let got = table(
            &ctx,
            "SELECT customer,
                    window_funnel(86400, ts, event = 'view', event = 'add_cart', event = 'pay') AS funnel,
                    window_funnel(3 * 86400, ts, event = 'view', event = 'add_cart', event = 'pay') AS loose,
                    retention(CAST(ts AS DATE) = DATE '2026-06-01', CAST(ts AS DATE) = DATE '2026-06-02',
                              CAST(ts AS DATE) = DATE '2026-06-03') AS retention,
                    retention(event = 'refund', event = 'pay') AS no_cohort
             FROM events GROUP BY customer ORDER BY customer",
        )
        .await;
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test]
async fn aggregate_errors_say_what_to_fix() {
    let (_, ctx) = contexts().await.remove(0);
    for (sql, needle) in [
        (
            "SELECT top_n(category, 0) FROM events",
            "n must be a positive integer",
        ),
        (
            "SELECT top_n(category, amount) FROM events GROUP BY customer",
            "n must be an integer literal",
        ),
        (
            "SELECT window_funnel(60, ts) FROM events",
            "at least one step",
        ),
        (
            "SELECT window_funnel(60, event, event = 'pay') FROM events",
            "time must be a timestamp",
        ),
        (
            "SELECT window_funnel(60, ts, amount) FROM events",
            "must be a boolean",
        ),
        ("SELECT retention(amount) FROM events", "must be a boolean"),
    ] {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        let err = err.unwrap_or_else(|| panic!("{sql} should fail"));
        assert!(err.contains(needle), "{sql}: {err}");
    }
}

#[test]
fn funnel_levels_by_hand() {
    // Steps matched by one event chain in order within the window.
    assert_eq!(funnel_level(&mut [(0, 1), (5, 2), (9, 3)], 10, 3), 3);
    // The third step comes too late after the chain's first step.
    assert_eq!(funnel_level(&mut [(0, 1), (5, 2), (11, 3)], 10, 3), 2);
    // Order matters: step 2 before any step 1 does not count.
    assert_eq!(funnel_level(&mut [(0, 2), (1, 1)], 10, 2), 1);
    // A later step 1 restarts the chain, so a late step 2 can still count.
    assert_eq!(funnel_level(&mut [(0, 1), (20, 1), (25, 2)], 10, 2), 2);
    assert_eq!(funnel_level(&mut [], 10, 2), 0);
    assert_eq!(retention_flags(0b101, 3), vec![1, 0, 1]);
    assert_eq!(retention_flags(0b110, 3), vec![0, 0, 0]);
}
