use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::bins::range_label;
use super::{
    LifecycleThresholds, ab_bucket, activity, kmeans, quantile_bins, rfm_class_name, stage,
    standardise,
};
use crate::{register_all, with_config};

fn context() -> SessionContext {
    let mut ctx = SessionContext::new_with_config(with_config(SessionConfig::new()));
    register_all(&mut ctx).expect("register");
    ctx
}

#[test]
fn rfm_names() {
    assert_eq!(rfm_class_name(true, true, true, false), "重要价值客户");
    assert_eq!(rfm_class_name(true, false, true, false), "重要发展客户");
    assert_eq!(rfm_class_name(false, true, true, false), "重要保持客户");
    assert_eq!(rfm_class_name(false, false, true, false), "重要挽留客户");
    assert_eq!(
        rfm_class_name(false, false, false, true),
        "general win-back"
    );
}

#[test]
fn ab_buckets_are_stable_and_balanced() {
    // Fixed values: the assignment must never change between versions.
    assert_eq!(
        ab_bucket("C000001", "spring", 100),
        ab_bucket("C000001", "spring", 100)
    );
    let a: Vec<u64> = (0..5)
        .map(|i| ab_bucket(&format!("C{i:06}"), "spring", 10))
        .collect();
    let b: Vec<u64> = (0..5)
        .map(|i| ab_bucket(&format!("C{i:06}"), "autumn", 10))
        .collect();
    assert_ne!(a, b, "salts give independent splits");
    let mut counts = [0usize; 10];
    for i in 0..100_000 {
        counts[ab_bucket(&format!("C{i:06}"), "spring", 10) as usize] += 1;
    }
    for c in counts {
        assert!((9_500..10_500).contains(&c), "unbalanced: {counts:?}");
    }
}

#[test]
fn range_labels() {
    let edges = [0.0, 500.0, 2000.0];
    assert_eq!(range_label(-1.0, &edges), "<0");
    assert_eq!(range_label(0.0, &edges), "[0, 500)");
    assert_eq!(range_label(1999.99, &edges), "[500, 2000)");
    assert_eq!(range_label(2000.0, &edges), ">=2000");
    assert_eq!(range_label(0.25, &[0.5]), "<0.5");
}

#[tokio::test]
async fn layering_in_sql() {
    let ctx = context();
    let b = ctx
        .sql(
            "SELECT rfm_class(r, f, m), rfm_class(r, f, m, 'en'), range_bin(x, 0, 500, 2000), \
                    ab_group(k, 'spring', 100) \
             FROM (VALUES (true, false, true, 750.0, 'C1'), (NULL, true, true, NULL, NULL)) AS t(r, f, m, x, k)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let zh = b[0].column(0).as_string::<i32>();
    assert_eq!(zh.value(0), "重要发展客户");
    assert!(zh.is_null(1));
    assert_eq!(
        b[0].column(1).as_string::<i32>().value(0),
        "important development"
    );
    assert_eq!(b[0].column(2).as_string::<i32>().value(0), "[500, 2000)");
    let g = b[0].column(3).as_primitive::<Int64Type>();
    assert_eq!(g.value(0), ab_bucket("C1", "spring", 100) as i64);
    assert!(g.is_null(1));

    let err = ctx.sql("SELECT rfm_class(1, 2, 3)").await;
    assert!(err.is_err());
}

#[test]
fn lifecycle_stages() {
    let t = LifecycleThresholds::default();
    assert_eq!(stage(None, None, 0, &t), "潜在");
    assert_eq!(stage(Some(10), Some(2), 1, &t), "引入");
    assert_eq!(stage(Some(400), Some(200), 0, &t), "流失");
    assert_eq!(stage(Some(400), Some(100), 2, &t), "休眠");
    assert_eq!(stage(Some(400), Some(5), 6, &t), "成熟");
    assert_eq!(stage(Some(400), Some(5), 5, &t), "成长");
}

#[tokio::test]
async fn lifecycle_in_sql_follows_as_of() {
    let ctx = context();
    ctx.sql("SET tagfusion.as_of = '2026-07-01 00:00:00'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = ctx
        .sql(
            "SELECT lifecycle_stage(f, l, n), lifecycle_stage(f, l, n, 30, 10, 20, 2) FROM (VALUES \
               (TIMESTAMP '2026-06-20 00:00:00', TIMESTAMP '2026-06-25 00:00:00', 1), \
               (TIMESTAMP '2025-01-01 00:00:00', TIMESTAMP '2026-06-15 00:00:00', 3), \
               (CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP), 0)) AS t(f, l, n)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let default: Vec<Option<&str>> = b[0].column(0).as_string::<i32>().iter().collect();
    assert_eq!(default, vec![Some("引入"), Some("成长"), Some("潜在")]);
    // 16 days since the last purchase: dormant past 10 days with these thresholds.
    let custom: Vec<Option<&str>> = b[0].column(1).as_string::<i32>().iter().collect();
    assert_eq!(custom, vec![Some("引入"), Some("休眠"), Some("潜在")]);
}

#[test]
fn activity_levels() {
    assert_eq!(activity(20.0, 15.0, 5.0), "高活跃");
    assert_eq!(activity(15.0, 15.0, 5.0), "高活跃");
    assert_eq!(activity(5.0, 15.0, 5.0), "中活跃");
    assert_eq!(activity(1.0, 15.0, 5.0), "低活跃");
    assert_eq!(activity(0.0, 15.0, 5.0), "沉默");
}

#[tokio::test]
async fn activity_and_churn_in_sql() {
    let ctx = context();
    let b = ctx
        .sql(
            "SELECT activity_level(a, 15, 5), churn_warning(r, g), churn_warning(r, g, 4) FROM (VALUES \
               (16, 50, 20.0), (3, 30, 20.0), (NULL, 10, 0.0)) AS t(a, r, g)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let levels: Vec<Option<&str>> = b[0].column(0).as_string::<i32>().iter().collect();
    assert_eq!(levels, vec![Some("高活跃"), Some("低活跃"), None]);
    let warn: Vec<Option<bool>> = b[0].column(1).as_boolean().iter().collect();
    // 50 > 2 x 20; 30 <= 40; a gap of 0 is unknown.
    assert_eq!(warn, vec![Some(true), Some(false), None]);
    let lenient: Vec<Option<bool>> = b[0].column(2).as_boolean().iter().collect();
    assert_eq!(lenient, vec![Some(false), Some(false), None]);
}

#[test]
fn quantile_bins_keep_ties_together() {
    // 5 non-NULL values into 4 bins: bin = 1 + floor(4 × values below / 5).
    let values = [
        Some(10.0),
        Some(20.0),
        Some(20.0),
        Some(30.0),
        None,
        Some(40.0),
    ];
    assert_eq!(
        quantile_bins(&values, 4),
        vec![Some(1), Some(1), Some(1), Some(3), None, Some(4)]
    );
    assert_eq!(quantile_bins(&[], 5), Vec::<Option<i64>>::new());
}

#[tokio::test]
async fn quantile_bin_and_rfm_score_in_sql() {
    let ctx = context();
    let b = ctx
        .sql(
            "SELECT x, quantile_bin(x, 4) OVER () AS q, rfm_score(x) OVER () AS m, \
                    rfm_score(x, false) OVER () AS r \
             FROM (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (NULL)) AS t(x) \
             ORDER BY x NULLS LAST",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let col = |i: usize| -> Vec<Option<i64>> {
        b.iter()
            .flat_map(|b| {
                b.column(i)
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let some =
        |v: &[i64]| -> Vec<Option<i64>> { v.iter().copied().map(Some).chain([None]).collect() };
    // 10 values: quartile bin = 1 + floor(4 × (x-1) / 10); quintile = 1 + floor((x-1) / 2).
    assert_eq!(col(1), some(&[1, 1, 1, 2, 2, 3, 3, 3, 4, 4]));
    assert_eq!(col(2), some(&[1, 1, 2, 2, 3, 3, 4, 4, 5, 5]));
    assert_eq!(col(3), some(&[5, 5, 4, 4, 3, 3, 2, 2, 1, 1]));

    for (sql, needle) in [
        (
            "SELECT quantile_bin(x, 0) OVER () FROM (VALUES (1)) t(x)",
            "positive integer",
        ),
        ("SELECT quantile_bin('a', 2) OVER ()", "must be a number"),
        (
            "SELECT rfm_score(x, 'yes') OVER () FROM (VALUES (1)) t(x)",
            "true or false",
        ),
    ] {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        let err = err.unwrap_or_else(|| panic!("{sql} should fail"));
        assert!(err.contains(needle), "{sql}: {err}");
    }
}

/// Three blobs with the same offsets around (0, 0), (10, 0) and (0, 10).
fn blobs() -> Vec<(f64, f64)> {
    let offsets = [
        (0.0, 0.0),
        (1.0, 0.0),
        (-1.0, 0.0),
        (0.0, 1.0),
        (0.0, -1.0),
        (0.5, 0.5),
    ];
    let mut points = Vec::new();
    for (cx, cy) in [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)] {
        points.extend(offsets.iter().map(|(dx, dy)| (cx + dx, cy + dy)));
    }
    points
}

#[test]
fn kmeans_finds_separated_blobs_and_numbers_them_by_centre() {
    let points = blobs();
    let mut columns = vec![
        points.iter().map(|p| p.0).collect::<Vec<_>>(),
        points.iter().map(|p| p.1).collect::<Vec<_>>(),
    ];
    standardise(&mut columns);
    let mean: f64 = columns[0].iter().sum::<f64>() / columns[0].len() as f64;
    assert!(mean.abs() < 1e-12);
    let data: Vec<f64> = (0..points.len())
        .flat_map(|i| [columns[0][i], columns[1][i]])
        .collect();
    let ids = kmeans(&data, 2, 3);
    // Centres ordered by x, then y: (0, 0) → 1, (0, 10) → 2, (10, 0) → 3.
    let expected: Vec<i64> = [1, 3, 2].iter().flat_map(|&c| [c; 6]).collect();
    assert_eq!(ids, expected);
    assert_eq!(kmeans(&data, 2, 3), ids, "deterministic");
    // Independent of the order of the rows.
    let reversed: Vec<f64> = data.chunks(2).rev().flatten().copied().collect();
    let mut back = kmeans(&reversed, 2, 3);
    back.reverse();
    assert_eq!(back, ids, "order-independent");
    // More clusters than points: every point its own cluster at most.
    assert_eq!(kmeans(&[0.0, 1.0], 1, 5), vec![1, 2]);
    assert!(kmeans(&[], 1, 3).is_empty());
}

#[tokio::test]
async fn kmeans_in_sql_skips_rows_with_null_features() {
    let ctx = context();
    let mut rows: Vec<String> = blobs()
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("({i}, {x:.1}, {y:.1})"))
        .collect();
    rows.push("(99, NULL, 3.0)".into());
    let sql = format!(
        "SELECT id, kmeans(3, x, y) OVER () FROM (VALUES {}) AS t(id, x, y) ORDER BY id",
        rows.join(", ")
    );
    let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let ids: Vec<Option<i64>> = b
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    let mut expected: Vec<Option<i64>> = [1, 3, 2].iter().flat_map(|&c| [Some(c); 6]).collect();
    expected.push(None);
    assert_eq!(ids, expected);
    let err = ctx
        .sql("SELECT kmeans(2, 'a') OVER ()")
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("must be a number")));
}

/// The bins of the definition, counted the slow way: 1 + floor(n × below / count).
fn bins_by_definition(values: &[Option<f64>], n: usize) -> Vec<Option<i64>> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    values
        .iter()
        .map(|v| {
            v.map(|v| {
                let below = present.iter().filter(|p| **p < v).count();
                (below * n / present.len()) as i64 + 1
            })
        })
        .collect()
}

#[test]
fn quantile_cuts_give_the_bins_of_the_definition() {
    // Many ties, NULLs, negative zero, fewer values than bins.
    let mut seed = 17u64;
    for len in [0usize, 1, 2, 3, 7, 50, 333] {
        let values: Vec<Option<f64>> = (0..len)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match seed >> 60 {
                    0 => None,
                    1 => Some(-0.0),
                    2 => Some(0.0),
                    r => Some(((seed >> 33) % 23) as f64 * if r % 2 == 0 { 1.5 } else { -1.0 }),
                }
            })
            .collect();
        for n in 1..=12 {
            assert_eq!(
                quantile_bins(&values, n),
                bins_by_definition(&values, n),
                "{len} values into {n} bins"
            );
        }
    }
}

#[tokio::test]
async fn fit_and_apply_give_what_the_window_functions_give() {
    // Four partitions, so the fits merge partial states.
    let mut ctx = SessionContext::new_with_config(
        with_config(SessionConfig::new()).with_target_partitions(4),
    );
    register_all(&mut ctx).expect("register");
    ctx.sql(
        "CREATE TABLE t AS SELECT value AS id, \
                CASE WHEN value % 17 = 0 THEN NULL ELSE (value * 7919) % 101 END AS x, \
                CASE WHEN value % 2 = 0 THEN 50.0 ELSE 0.0 END + (value % 7) AS y \
         FROM generate_series(1, 3000)",
    )
    .await
    .unwrap();
    let window = "SELECT id, quantile_bin(x, 10) OVER () AS q, rfm_score(x, false) OVER () AS r, \
                         kmeans(3, x, y) OVER () AS k FROM t ORDER BY id";
    let fitted = "SELECT id, quantile_bin_apply(mq, x) AS q, quantile_bin_apply(mr, x) AS r, \
                         kmeans_apply(mk, x, y) AS k \
                  FROM t CROSS JOIN (SELECT quantile_bin_fit(x, 10) AS mq, \
                                            rfm_score_fit(x, false) AS mr, \
                                            kmeans_fit(3, x, y) AS mk FROM t) AS m \
                  ORDER BY id";
    let run = |sql: &'static str| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        }
    };
    let (a, b) = (run(window).await, run(fitted).await);
    assert_eq!(a, b);
    // Every bin and cluster occurs: the comparison is not between empty answers.
    for (column, values) in [("q", 10), ("r", 5), ("k", 3)] {
        let sql = format!("SELECT count(DISTINCT {column}) FROM ({window})");
        let n = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        assert_eq!(
            n[0].column(0).as_primitive::<Int64Type>().value(0),
            values,
            "{column}"
        );
    }
    let err = ctx
        .sql("SELECT quantile_bin_fit(x, id) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be a constant"), "{err}");
}
