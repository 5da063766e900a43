use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::haversine_m;
use crate::{register_all, with_config};

fn context() -> SessionContext {
    let mut ctx = SessionContext::new_with_config(with_config(SessionConfig::new()));
    register_all(&mut ctx).expect("register");
    ctx
}

#[test]
fn one_degree_of_latitude_is_111_km() {
    // 2πR / 360 with the mean earth radius.
    let d = haversine_m(0.0, 0.0, 1.0, 0.0);
    assert!((d - 111_195.08).abs() < 0.1, "{d}");
    assert_eq!(haversine_m(31.23, 121.47, 31.23, 121.47), 0.0);
    // Antipodes: half the circumference, no NaN from rounding past 1.
    let half = haversine_m(0.0, 0.0, 0.0, 180.0);
    assert!(
        (half - std::f64::consts::PI * 6_371_008.8).abs() < 1.0,
        "{half}"
    );
}

#[tokio::test]
async fn distance_and_within_in_sql() {
    let ctx = context();
    // People's Square, Shanghai -> Tiananmen, Beijing: about 1,068 km.
    let batches = ctx
        .sql(
            "SELECT geo_distance_m(31.2304, 121.4737, 39.9087, 116.3975), \
                    geo_distance_m(lat, 121, 0, 121) \
             FROM (VALUES (1), (NULL)) AS t(lat)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = &batches[0];
    let sh_bj = b.column(0).as_primitive::<Float64Type>().value(0);
    assert!((1_060_000.0..1_075_000.0).contains(&sh_bj), "{sh_bj}");
    let by_row = b.column(1).as_primitive::<Float64Type>();
    assert!((by_row.value(0) - 111_195.08).abs() < 0.1);
    assert!(by_row.is_null(1));

    let batches = ctx
        .sql(
            "SELECT geo_within(31.2304, 121.4737, 31.2304, 121.5037, r) \
             FROM (VALUES (2000), (3000), (NULL)) AS t(r)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    // 0.03 degrees of longitude at 31.23°N is about 2.85 km.
    let within: Vec<Option<bool>> = batches[0].column(0).as_boolean().iter().collect();
    assert_eq!(within, vec![Some(false), Some(true), None]);
}

#[tokio::test]
async fn wrong_argument_types_are_plan_errors() {
    let ctx = context();
    let Err(err) = ctx.sql("SELECT geo_distance_m('a', 1, 2, 3)").await else {
        panic!("a string is not a coordinate");
    };
    assert!(err.to_string().contains("expects four numbers"), "{err}");
}
