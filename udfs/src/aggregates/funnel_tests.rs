//! `window_funnel`'s flat groups accumulator: against the plain accumulator (a window over each
//! group) on many groups, and `EmitTo::First` driven by hand.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDFImpl, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};

use super::WindowFunnel;
use super::tests::{contexts, table};

/// 200,000 events over 20,000 groups: integer ticks and events 0–3 spread pseudo-randomly.
const MANY_EVENTS: &str = "
CREATE TABLE journeys AS
SELECT value % 20000 AS g, value * 7919 % 100000 AS t, value * 31 % 7 % 4 AS e
FROM generate_series(1, 200000)";

#[tokio::test]
async fn window_funnel_groups_match_the_plain_accumulator() {
    for (path, ctx) in contexts().await {
        ctx.sql(MANY_EVENTS)
            .await
            .expect("create")
            .collect()
            .await
            .expect("insert");
        let funnel = "window_funnel(30000, t, e = 1, e = 2, e = 3)";
        let grouped = table(
            &ctx,
            &format!("SELECT g, {funnel} FROM journeys GROUP BY g ORDER BY g"),
        )
        .await;
        // A window over the whole group runs the plain accumulator.
        let windowed = table(
            &ctx,
            &format!("SELECT DISTINCT g, {funnel} OVER (PARTITION BY g) FROM journeys ORDER BY g"),
        )
        .await;
        assert_eq!(grouped.len(), 20_000, "{path}");
        assert_eq!(grouped, windowed, "{path}");
        // Not every group reaches the same level.
        let levels: std::collections::BTreeSet<&str> = grouped
            .iter()
            .filter_map(|r| r.split(" | ").nth(1))
            .collect();
        assert!(levels.len() > 1, "{path}: {levels:?}");
    }
}

/// `retention`'s mask-per-group accumulator against `bool_or` on many groups, with NULL
/// conditions and a `FILTER` clause (partial aggregation on, and skipped: `convert_to_state`).
#[tokio::test]
async fn retention_groups_match_bool_or() {
    for (path, ctx) in contexts().await {
        ctx.sql(
            "CREATE TABLE visits AS SELECT value % 20000 AS g, \
             CASE WHEN value % 11 = 0 THEN NULL ELSE value * 31 % 7 END AS e \
             FROM generate_series(1, 200000)",
        )
        .await
        .expect("create")
        .collect()
        .await
        .expect("insert");
        let keep = "FILTER (WHERE g % 3 <> 0 OR e <> 1)";
        let retention = table(
            &ctx,
            &format!(
                "SELECT g, r[1], r[2], r[3] FROM (SELECT g, retention(e = 1, e = 2, e > 4) \
                 {keep} AS r FROM visits GROUP BY g) ORDER BY g"
            ),
        )
        .await;
        let flag = |e: &str| format!("CAST(coalesce({e}, false) AS INT)");
        let bool_or = table(
            &ctx,
            &format!(
                "SELECT g, {}, {}, {} FROM (SELECT g, bool_or(e = 1) {keep} AS s, \
                 bool_or(e = 2) {keep} AS w, bool_or(e > 4) {keep} AS a FROM visits GROUP BY g) \
                 ORDER BY g",
                flag("s"),
                flag("s AND w"),
                flag("s AND a")
            ),
        )
        .await;
        assert_eq!(retention.len(), 20_000, "{path}");
        assert_eq!(retention, bool_or, "{path}");
        let kinds: std::collections::BTreeSet<&str> = retention
            .iter()
            .map(|r| r.split_once(" | ").map_or("", |(_, flags)| flags))
            .collect();
        assert!(kinds.len() >= 3, "{path}: {kinds:?}");
    }
}

/// A `window_funnel(window, t, step1, step2)` groups accumulator over integer ticks.
fn funnel_accumulator(window: i64) -> Box<dyn GroupsAccumulator> {
    let fields = vec![
        Arc::new(Field::new("window", DataType::Int64, false)),
        Arc::new(Field::new("t", DataType::Int64, true)),
        Arc::new(Field::new("s1", DataType::Boolean, true)),
        Arc::new(Field::new("s2", DataType::Boolean, true)),
    ];
    let schema = Schema::new(
        fields
            .iter()
            .map(|f| f.as_ref().clone())
            .collect::<Vec<_>>(),
    );
    let exprs: Vec<Arc<dyn PhysicalExpr>> = vec![
        Arc::new(Literal::new(ScalarValue::Int64(Some(window)))),
        Arc::new(Column::new("t", 1)),
        Arc::new(Column::new("s1", 2)),
        Arc::new(Column::new("s2", 3)),
    ];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new("out", DataType::Int64, false)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "window_funnel",
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    WindowFunnel::new()
        .create_groups_accumulator(args)
        .expect("accumulator")
}

/// The arguments after the window: ticks, step 1 and step 2 flags.
fn events(ticks: Vec<i64>, s1: Vec<bool>, s2: Vec<bool>) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(vec![0; ticks.len()])),
        Arc::new(Int64Array::from(ticks)),
        Arc::new(BooleanArray::from(s1)),
        Arc::new(BooleanArray::from(s2)),
    ]
}

fn levels(array: &ArrayRef) -> Vec<i64> {
    array
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("Int64")
        .values()
        .to_vec()
}

#[test]
fn window_funnel_emits_first_groups_and_shifts_the_rest() {
    let mut acc = funnel_accumulator(10);
    // Group 0: step 1 at 0, step 2 at 5 → 2. Group 1: step 1 at 0, step 2 at 50 → 1.
    // Group 2: step 2 only → 0.
    let batch = events(
        vec![0, 5, 0, 50, 7],
        vec![true, false, true, false, false],
        vec![false, true, false, true, true],
    );
    acc.update_batch(&batch, &[0, 0, 1, 1, 2], None, 3)
        .expect("update");
    let first = acc.evaluate(EmitTo::First(1)).expect("evaluate");
    assert_eq!(levels(&first), [2]);
    // Old groups 1 and 2 are now 0 and 1: group 1 gets a step 1 at 3, so step 2 at 7 counts.
    let batch = events(vec![45, 3], vec![true, true], vec![false, false]);
    acc.update_batch(&batch, &[0, 1], None, 2).expect("update");
    // The state of group 0 merged elsewhere gives the same level.
    let state = acc.state(EmitTo::First(1)).expect("state");
    let mut merged = funnel_accumulator(10);
    merged.merge_batch(&state, &[0], 1).expect("merge");
    assert_eq!(
        levels(&merged.evaluate(EmitTo::All).expect("evaluate")),
        [2]
    );
    let rest = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(levels(&rest), [2]);
}
