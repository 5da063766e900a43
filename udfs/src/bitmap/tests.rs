//! Bitmaps against hand-computed sets, through SQL, grouped and ungrouped.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::{register_all, with_config};

async fn context() -> SessionContext {
    let mut ctx = SessionContext::new_with_config(with_config(
        SessionConfig::new().with_target_partitions(3),
    ));
    register_all(&mut ctx).expect("register");
    // Segment a = {1, 2, 3, 5, 8}, segment b = {2, 3, 4, 8, 100000}; id 7 is in none (NULL seg).
    ctx.sql(
        "CREATE TABLE members (seg VARCHAR, id BIGINT) AS VALUES
           ('a', 1), ('a', 2), ('a', 3), ('a', 5), ('a', 8), ('a', 8), ('a', NULL),
           ('b', 2), ('b', 3), ('b', 4), ('b', 8), ('b', 100000)",
    )
    .await
    .expect("create")
    .collect()
    .await
    .expect("insert");
    ctx
}

async fn ints(ctx: &SessionContext, sql: &str) -> Vec<Option<i64>> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect()
}

const SEGMENTS: &str = "WITH s AS (SELECT seg, bitmap_agg(id) AS m FROM members GROUP BY seg),
  a AS (SELECT m FROM s WHERE seg = 'a'), b AS (SELECT m FROM s WHERE seg = 'b')";

#[tokio::test]
async fn set_operations_and_counts() {
    let ctx = context().await;
    for (expr, expected) in [
        ("bitmap_count(a.m)", 5),
        ("bitmap_count(b.m)", 5),
        ("bitmap_count(bitmap_and(a.m, b.m))", 3), // {2, 3, 8}
        ("bitmap_and_count(a.m, b.m)", 3),
        ("bitmap_count(bitmap_or(a.m, b.m))", 7), // {1, 2, 3, 4, 5, 8, 100000}
        ("bitmap_count(bitmap_andnot(a.m, b.m))", 2), // {1, 5}
        ("bitmap_count(bitmap_xor(a.m, b.m))", 4), // {1, 4, 5, 100000}
    ] {
        let got = ints(&ctx, &format!("{SEGMENTS} SELECT {expr} FROM a, b")).await;
        assert_eq!(got, vec![Some(expected)], "{expr}");
    }
    let got = ints(
        &ctx,
        &format!("{SEGMENTS} SELECT unnest(bitmap_to_list(bitmap_andnot(b.m, a.m))) FROM a, b"),
    )
    .await;
    assert_eq!(got, vec![Some(4), Some(100000)]);
    // Without GROUP BY, and the union of per-segment bitmaps.
    assert_eq!(
        ints(&ctx, "SELECT bitmap_count(bitmap_agg(id)) FROM members").await,
        vec![Some(7)]
    );
    assert_eq!(
        ints(
            &ctx,
            "SELECT bitmap_count(bitmap_union(m)) FROM (SELECT seg, bitmap_agg(id) AS m FROM members GROUP BY seg)"
        )
        .await,
        vec![Some(7)]
    );
    let contains = ctx
        .sql(&format!(
            "{SEGMENTS} SELECT bitmap_contains(a.m, 5), bitmap_contains(a.m, 4), bitmap_contains(a.m, -1) FROM a"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let row: Vec<bool> = (0..3)
        .map(|c| contains[0].column(c).as_boolean().value(0))
        .collect();
    assert_eq!(row, vec![true, false, false]);
}

#[tokio::test]
async fn bitmaps_use_the_portable_roaring_format() {
    let ctx = context().await;
    let batches = ctx
        .sql("SELECT bitmap_agg(id) FROM members WHERE seg = 'a'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let bytes = batches[0].column(0).as_binary::<i32>().value(0).to_vec();
    // Written by CRoaring, read by the pure-Rust `roaring` crate's portable reader would also
    // work; here: CRoaring's own portable reader and the spec's cookie.
    let cookie = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert!(
        cookie == 12346 || cookie & 0xFFFF == 12347,
        "portable cookie, got {cookie}"
    );
    let back = croaring::Bitmap::try_deserialize::<croaring::Portable>(&bytes).expect("portable");
    assert_eq!(back.to_vec(), vec![1, 2, 3, 5, 8]);
}

#[tokio::test]
async fn bitmap_errors_say_what_to_fix() {
    let ctx = context().await;
    for (sql, needle) in [
        ("SELECT bitmap_agg(-1)", "from 0 to 4294967295"),
        (
            "SELECT bitmap_agg(id + 5000000000) FROM members",
            "dense integer ids",
        ),
        ("SELECT bitmap_agg('x')", "expected an integer id"),
        ("SELECT bitmap_count(X'0102')", "not a roaring bitmap"),
        ("SELECT bitmap_count(42)", "expected a bitmap"),
        (
            "SELECT bitmap_contains(bitmap_agg(id), 'x') FROM members",
            "must be an integer",
        ),
    ] {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        let err = err.unwrap_or_else(|| panic!("{sql} should fail"));
        assert!(err.contains(needle), "{sql}: {err}");
    }
    assert!(
        ints(&ctx, "SELECT bitmap_count(CAST(NULL AS BYTEA))").await == vec![None],
        "NULL stays NULL"
    );
}

/// The memory pool sees what the per-group bitmaps hold: without a size the pool could not tell
/// a GROUP BY over millions of keys to spill.
#[test]
fn grouped_bitmaps_report_their_memory() {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::{AggregateUDFImpl, function::AccumulatorArgs};
    use datafusion::physical_expr::expressions::col;

    let schema = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
    let expr = col("id", &schema).expect("column");
    let field = Arc::new(Field::new("b", DataType::Binary, false));
    let args = AccumulatorArgs {
        return_field: field,
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "bitmap_agg(id)",
        is_distinct: false,
        exprs: &[expr],
        expr_fields: &[Arc::new(Field::new("id", DataType::Int64, true))],
    };
    let mut groups = crate::bitmap::BitmapAgg::new()
        .create_groups_accumulator(args)
        .expect("accumulator");
    let empty = groups.size();
    // 10 groups of 10,000 ids each (a sparse id every 7, so they stay in array containers);
    // the same rows again add nothing.
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values((0..100_000).map(|i| i * 7)));
    let group_indices: Vec<usize> = (0..100_000).map(|i| i / 10_000).collect();
    groups
        .update_batch(std::slice::from_ref(&ids), &group_indices, None, 10)
        .expect("update");
    let filled = groups.size();
    assert!(
        filled >= empty + 100_000 * 2,
        "100,000 ids in 10 bitmaps reported {filled} bytes (empty: {empty})"
    );
    groups
        .update_batch(&[ids], &group_indices, None, 10)
        .expect("update");
    assert_eq!(groups.size(), filled, "repeated ids take no more memory");
}
