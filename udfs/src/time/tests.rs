use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, TimestampNanosecondType};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::{register_all, with_config};

async fn context(as_of: Option<&str>) -> SessionContext {
    let mut ctx = SessionContext::new_with_config(with_config(SessionConfig::new()));
    register_all(&mut ctx).expect("register");
    if let Some(t) = as_of {
        ctx.sql(&format!("SET tagfusion.as_of = '{t}'"))
            .await
            .expect("set")
            .collect()
            .await
            .expect("set");
    }
    ctx
}

async fn ints(ctx: &SessionContext, sql: &str) -> Vec<Option<i64>> {
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
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

#[tokio::test]
async fn as_of_follows_the_session_setting() {
    let ctx = context(Some("2026-06-30 12:00:00")).await;
    let batches = ctx
        .sql("SELECT as_of()")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let v = batches[0]
        .column(0)
        .as_primitive::<TimestampNanosecondType>()
        .value(0);
    assert_eq!(v, 1_782_820_800_000_000_000);
}

#[tokio::test]
async fn days_since_counts_whole_days_to_as_of() {
    let ctx = context(Some("2026-07-01")).await;
    let got = ints(
        &ctx,
        "SELECT days_since(t) FROM (VALUES (TIMESTAMP '2026-06-30 23:00:00'), (TIMESTAMP '2026-06-28 12:00:00'), \
         (TIMESTAMP '2025-07-01 00:00:00'), (NULL)) AS v(t)",
    )
    .await;
    assert_eq!(got, vec![Some(0), Some(2), Some(365), None]);
    // Dates work too, and the result follows as_of, not the clock.
    assert_eq!(
        ints(&ctx, "SELECT days_since(DATE '2026-06-01')").await,
        vec![Some(30)]
    );
}

#[tokio::test]
async fn days_between_is_floor_of_whole_days() {
    let ctx = context(None).await;
    let got = ints(
        &ctx,
        "SELECT days_between(TIMESTAMP '2026-01-01 10:00:00', TIMESTAMP '2026-01-03 09:59:59') \
         UNION ALL SELECT days_between(DATE '2026-01-03', DATE '2026-01-01')",
    )
    .await;
    assert_eq!(got, vec![Some(1), Some(-2)]);
}

#[tokio::test]
async fn a_bad_as_of_setting_is_a_clear_error() {
    let ctx = context(Some("yesterday")).await;
    let result = match ctx.sql("SELECT as_of()").await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let err = result.expect_err("a bad as-of must fail").to_string();
    assert!(
        err.contains("tagfusion.as_of = 'yesterday' is not a timestamp"),
        "{err}"
    );
}
