//! The frequency aggregates' flat groups accumulator: against plain SQL over many groups, every
//! string type as input, and `EmitTo::First` driven by hand.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, StringViewArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDFImpl, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::prelude::SessionContext;

use super::FrequencyUdaf;
use super::tests::{contexts, lines, table};

/// 500,000 rows over 50,000 groups (10 rows each). `s` has 17 text values and `n` 29 integers,
/// spread pseudo-randomly so that most groups have ties; about one row in 13 (11) is NULL and
/// every group `g % 1000 = 7` has no `s` at all. `w` has 61 integers: more than the dense counts
/// hold, so its state moves to the sparse form while it runs.
const MANY_GROUPS: &str = "
CREATE TABLE many AS
SELECT value % 50000 AS g,
       CASE WHEN value % 13 = 0 OR value % 50000 % 1000 = 7 THEN NULL
            ELSE 'v' || CAST(value * 2654435761 % 97 % 17 AS VARCHAR) END AS s,
       CASE WHEN value % 11 = 0 THEN NULL ELSE value * 40503 % 29 END AS n,
       CASE WHEN value % 7 = 0 THEN NULL ELSE value * 48271 % 61 END AS w
FROM generate_series(1, 500000)";

/// The four aggregates of `x` over the rows where `p` holds, per group of `many`.
fn frequency_sql(x: &str, p: &str) -> String {
    format!(
        "SELECT g, unique_count({x}) FILTER (WHERE {p}), most_frequent({x}) FILTER (WHERE {p}),
                top_n({x}, 3) FILTER (WHERE {p}), unique_list({x}) FILTER (WHERE {p})
         FROM many GROUP BY g ORDER BY g"
    )
}

/// The same in plain SQL: count(DISTINCT …), and the mode, top 3 and sorted values from
/// per-value counts ranked by count descending, then value ascending.
fn plain_sql(x: &str, p: &str) -> String {
    format!(
        "WITH counted AS (SELECT g, {x} AS x, count(*) AS c FROM many
                          WHERE ({p}) AND {x} IS NOT NULL GROUP BY g, {x}),
              ranked AS (SELECT g, x, row_number() OVER (PARTITION BY g ORDER BY c DESC, x ASC) AS rn
                         FROM counted),
              distinct_count AS (SELECT g, count(DISTINCT CASE WHEN {p} THEN {x} END) AS n
                                 FROM many GROUP BY g),
              top3 AS (SELECT g, array_agg(x ORDER BY rn) AS xs FROM ranked WHERE rn <= 3 GROUP BY g),
              sorted AS (SELECT g, array_agg(x ORDER BY x) AS xs FROM ranked GROUP BY g)
         SELECT d.g, d.n, best.x, top3.xs, sorted.xs FROM distinct_count d
         LEFT JOIN ranked best ON best.g = d.g AND best.rn = 1
         LEFT JOIN top3 ON top3.g = d.g
         LEFT JOIN sorted ON sorted.g = d.g
         ORDER BY d.g"
    )
}

async fn run(ctx: &SessionContext, sql: &str) {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn frequency_aggregates_match_plain_sql_on_many_groups() {
    for (path, ctx) in contexts().await {
        run(&ctx, MANY_GROUPS).await;
        for (x, p) in [
            ("s", "true"),
            ("n", "true"),
            ("s", "n > 10"),
            ("n", "s IS NULL OR s < 'v5'"),
            ("w", "true"),
            ("w", "n > 10"),
        ] {
            let got = table(&ctx, &frequency_sql(x, p)).await;
            let expected = table(&ctx, &plain_sql(x, p)).await;
            assert_eq!(got.len(), 50_000, "{path}: {x} where {p}");
            for (got, expected) in got.iter().zip(&expected) {
                assert_eq!(got, expected, "{path}: {x} where {p}");
            }
            assert_eq!(got.len(), expected.len(), "{path}: {x} where {p}");
        }
    }
}

#[tokio::test]
async fn frequency_aggregates_read_every_string_type() {
    // The expected values of `frequency_aggregates_per_customer`, whatever the string type.
    let expected = lines(&[
        "c1 | shoes | [shoes, 食品] | [shoes, 食品] | 2",
        "c2 | 食品 | [食品, books] | [books, 食品] | 2",
        "c3 | books | [books, toys] | [books, toys] | 2",
        "c4 | NULL | NULL | NULL | 0",
    ]);
    for (path, ctx) in contexts().await {
        for t in ["Utf8", "LargeUtf8", "Utf8View", "Dictionary(Int32, Utf8)"] {
            let sql = format!(
                "SELECT customer, most_frequent(c), top_n(c, 2), unique_list(c), unique_count(c)
                 FROM (SELECT customer, arrow_cast(category, '{t}') AS c FROM events)
                 GROUP BY customer ORDER BY customer"
            );
            assert_eq!(table(&ctx, &sql).await, expected, "{path}: {t}");
            let sql = format!(
                "SELECT most_frequent(arrow_cast(category, '{t}')),
                        arrow_typeof(most_frequent(arrow_cast(category, '{t}'))) FROM events"
            );
            assert_eq!(
                table(&ctx, &sql).await,
                lines(&["books | Utf8"]),
                "{path}: {t}"
            );
        }
    }
}

/// A groups accumulator of `udaf` for one argument of type `input` (and `top_n`'s `n`).
fn groups_accumulator(
    udaf: FrequencyUdaf,
    input: DataType,
    n: Option<i64>,
) -> Box<dyn GroupsAccumulator> {
    let schema = Schema::new(vec![Field::new("x", input.clone(), true)]);
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new("x", 0))];
    let mut fields = vec![Arc::new(Field::new("x", input, true))];
    if let Some(n) = n {
        exprs.push(Arc::new(Literal::new(ScalarValue::Int64(Some(n)))));
        fields.push(Arc::new(Field::new("n", DataType::Int64, false)));
    }
    let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
    let return_type = udaf.return_type(&types).expect("return type");
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new("out", return_type, true)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "frequency",
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    udaf.create_groups_accumulator(args).expect("accumulator")
}

/// An array's values as text, NULL as "NULL".
fn strings(array: &ArrayRef) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options).expect("formatter");
    (0..array.len())
        .map(|i| formatter.value(i).to_string())
        .collect()
}

fn text(values: &[Option<&str>]) -> Vec<ArrayRef> {
    vec![Arc::new(StringArray::from(values.to_vec()))]
}

/// Groups 0–4: {a, b, a}, {c}, {c, b} (a tie: b), {NULL}, {d}.
fn first_batch() -> (Vec<ArrayRef>, Vec<usize>) {
    let values = text(&[
        Some("a"),
        Some("b"),
        Some("a"),
        Some("c"),
        Some("c"),
        Some("b"),
        None,
        Some("d"),
    ]);
    (values, vec![0, 0, 0, 1, 2, 2, 3, 4])
}

#[test]
fn evaluate_first_n_groups_shifts_the_rest() {
    let mut acc = groups_accumulator(FrequencyUdaf::most_frequent(), DataType::Utf8, None);
    let (values, groups) = first_batch();
    acc.update_batch(&values, &groups, None, 5).expect("update");
    let first = acc.evaluate(EmitTo::First(2)).expect("evaluate");
    assert_eq!(strings(&first), ["a", "c"]);
    // Groups 2, 3, 4 are now 0, 1, 2; group 3 is new.
    let values = text(&[Some("c"), Some("e"), Some("e")]);
    acc.update_batch(&values, &[0, 1, 3], None, 4)
        .expect("update");
    let rest = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(strings(&rest), ["c", "e", "d", "e"]);
    // Emptied by EmitTo::All: a new aggregation starts from nothing.
    acc.update_batch(&text(&[Some("z")]), &[1], None, 2)
        .expect("update");
    let again = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(strings(&again), ["NULL", "z"]);

    let mut acc = groups_accumulator(FrequencyUdaf::unique_count(), DataType::Utf8, None);
    let (values, groups) = first_batch();
    acc.update_batch(&values, &groups, None, 5).expect("update");
    let first = acc.evaluate(EmitTo::First(1)).expect("evaluate");
    assert_eq!(strings(&first), ["2"]);
    let rest = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(strings(&rest), ["1", "2", "0", "1"]);
}

#[test]
fn state_of_first_n_groups_merges_and_shifts_the_rest() {
    let mut acc = groups_accumulator(FrequencyUdaf::top_n(), DataType::Utf8, Some(2));
    let (values, groups) = first_batch();
    acc.update_batch(&values, &groups, None, 5).expect("update");
    let size = acc.size();
    assert!(size > 0, "size {size}");
    let state = acc.state(EmitTo::First(3)).expect("state");
    assert_eq!(state.len(), 2);
    assert_eq!(state[0].len(), 3);
    // The partial state of groups 0–2 merged elsewhere, as group 1, 0 and 0.
    let mut merged = groups_accumulator(FrequencyUdaf::top_n(), DataType::Utf8, Some(2));
    merged.merge_batch(&state, &[1, 0, 0], 2).expect("merge");
    let got = merged.evaluate(EmitTo::All).expect("evaluate");
    // Group 0: c twice, b once; group 1: a twice, b once.
    assert_eq!(strings(&got), ["[c, b]", "[a, b]"]);
    // The rest: old groups 3 and 4 are now 0 and 1; group 2 is new.
    acc.update_batch(&text(&[Some("x"), Some("y")]), &[0, 2], None, 3)
        .expect("update");
    let rest = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(strings(&rest), ["[x]", "[d]", "[y]"]);
}

#[test]
fn integer_state_of_first_groups_keeps_counts() {
    let mut acc = groups_accumulator(FrequencyUdaf::unique_list(), DataType::Int64, None);
    // Group 0: 3, 1, 3; group 1: NULL, 2.
    let values: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![
        Some(3),
        Some(1),
        Some(3),
        None,
        Some(2),
    ]))];
    acc.update_batch(&values, &[0, 0, 0, 1, 1], None, 2)
        .expect("update");
    let state = acc.state(EmitTo::First(1)).expect("state");
    assert_eq!(state[0].len(), 1);
    // Every frequency aggregate has the same state: the counts say 3 is the most frequent.
    for (udaf, expected) in [
        (FrequencyUdaf::most_frequent(), "3"),
        (FrequencyUdaf::unique_list(), "[1, 3]"),
        (FrequencyUdaf::unique_count(), "2"),
    ] {
        let mut merged = groups_accumulator(udaf, DataType::Int64, None);
        merged.merge_batch(&state, &[0], 1).expect("merge");
        let got = merged.evaluate(EmitTo::All).expect("evaluate");
        assert_eq!(strings(&got), [expected]);
    }
    let rest = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(strings(&rest), ["[2]"]);
}

#[test]
fn utf8_view_input_is_read_directly() {
    // Long values (over 12 bytes) live in the view array's data buffers, short ones inline.
    let long = "a category name longer than twelve bytes";
    let values: Vec<ArrayRef> = vec![Arc::new(StringViewArray::from(vec![
        Some(long),
        Some("short"),
        Some(long),
        None,
        Some("short"),
        Some("zz"),
    ]))];
    let groups = [0, 0, 0, 1, 1, 2];
    let mut acc = groups_accumulator(FrequencyUdaf::most_frequent(), DataType::Utf8View, None);
    acc.update_batch(&values, &groups, None, 3).expect("update");
    let got = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(got.data_type(), &DataType::Utf8);
    assert_eq!(strings(&got), [long, "short", "zz"]);

    let mut acc = groups_accumulator(FrequencyUdaf::unique_list(), DataType::Utf8View, None);
    acc.update_batch(&values, &groups, None, 3).expect("update");
    let got = acc.evaluate(EmitTo::All).expect("evaluate");
    assert_eq!(
        strings(&got),
        [format!("[{long}, short]"), "[short]".into(), "[zz]".into()]
    );
    // Partial aggregation skipped: every row its own state, NULL rows empty lists.
    let state = acc.convert_to_state(&values, None).expect("state");
    assert_eq!(
        strings(&state[0]),
        [
            format!("[{long}]"),
            "[short]".into(),
            format!("[{long}]"),
            "[]".into(),
            "[short]".into(),
            "[zz]".into()
        ]
    );
    assert_eq!(
        strings(&state[1]),
        ["[1]", "[1]", "[1]", "[]", "[1]", "[1]"]
    );
}

#[test]
fn emitting_groups_releases_values_no_group_uses() {
    // Group 0: 100,000 distinct values; group 1: 7, 5, 5; group 2: 99999, 3.
    let mut values: Vec<i64> = (0..100_000).collect();
    let mut groups = vec![0; 100_000];
    values.extend([7, 5, 5, 99_999, 3]);
    groups.extend([1, 1, 1, 2, 2]);
    let values: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(values))];
    // After emitting group 0, more values: 7, 42, 7, 99999 for the groups listed.
    let more: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![7, 42, 7, 99_999]))];
    for (udaf, more_groups, expected) in [
        (
            FrequencyUdaf::unique_list(),
            [0, 0, 0, 1],
            ["[5, 7, 42]", "[3, 99999]"],
        ),
        // Group 1 gets 7 twice more (7 now beats 5), group 2 99999 once more.
        (FrequencyUdaf::most_frequent(), [0, 1, 0, 1], ["7", "99999"]),
    ] {
        let mut acc = groups_accumulator(udaf, DataType::Int64, None);
        acc.update_batch(&values, &groups, None, 3).expect("update");
        let before = acc.size();
        let first = acc.evaluate(EmitTo::First(1)).expect("evaluate");
        assert_eq!(first.len(), 1);
        // Only the values of groups 1 and 2 are left (and the scratch space of one batch).
        let after = acc.size();
        assert!(after < before / 4, "{before} bytes before, {after} after");
        acc.update_batch(&more, &more_groups, None, 2)
            .expect("update");
        let rest = acc.evaluate(EmitTo::All).expect("evaluate");
        assert_eq!(strings(&rest), expected);
    }
}
