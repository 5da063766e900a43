//! Segment profile (群体画像): how a segment's tag values are distributed against the whole
//! population, with TGI = segment_share / population_share × 100.
//!
//! One pass computes the sizes, one UNION ALL query counts every chosen tag's values inside
//! and outside the segment (list-valued tags count each element: the share of members whose
//! list holds it), and one query summarises numeric tags (mean and quartiles, exact).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};

use crate::catalog::TagDef;
use crate::engine::segments::member_column;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{QualifiedName, quote_ident};

/// A tag with at most this many distinct values is profiled without being named in BY.
pub const LOW_CARDINALITY: i64 = 20;

/// Summary rows of a numeric tag: (value label, percentile or None for the mean).
const SUMMARIES: &[(&str, Option<f64>)] = &[
    ("mean", None),
    ("p25", Some(0.25)),
    ("median", Some(0.5)),
    ("p75", Some(0.75)),
];

/// The columns of a segment profile (SPEC §2, plus the two summary values).
pub static PROFILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("tag", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("segment_count", DataType::Int64, false),
        Field::new("segment_share", DataType::Float64, true),
        Field::new("population_count", DataType::Int64, false),
        Field::new("population_share", DataType::Float64, true),
        Field::new("tgi", DataType::Float64, true),
        Field::new("segment_stat", DataType::Float64, true),
        Field::new("population_stat", DataType::Float64, true),
    ]))
});

/// How one tag is profiled.
struct Choice<'a> {
    tag: &'a TagDef,
    list: bool,
    distribution: bool,
    numeric: bool,
}

/// One output row before shares are computed.
struct Row {
    order: usize,
    tag: String,
    value: Option<String>,
    numeric_value: Option<f64>,
    segment: i64,
    population: i64,
    stat: Option<(f64, f64)>,
    summary: usize,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn index(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b * 100.0),
        _ => None,
    }
}

fn ints(batch: &RecordBatch, column: usize) -> Vec<i64> {
    batch
        .column(column)
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect()
}

impl Engine {
    /// `PROFILE SEGMENT entity.segment [BY tag, …]` / `segment_profile('entity.segment', …)`.
    pub async fn segment_profile(&self, name: &QualifiedName, by: &[String]) -> Result<Output> {
        let catalog = self.catalog();
        let segment = catalog.segment(name)?.clone();
        let entity = catalog.entity(&name.entity)?.clone();
        let profile = self
            .ctx
            .table(format!("{}.profile", quote_ident(&entity.name)).as_str())
            .await
            .map_err(|_| {
                Error::invalid(format!(
                    "entity {} has no snapshot yet; run REFRESH ENTITY {} first",
                    entity.name, entity.name
                ))
            })?;
        let profile_schema = profile.schema().as_arrow().clone();
        let tags: Vec<&TagDef> = catalog
            .tags_of(&entity.name)
            .iter()
            .filter(|t| t.is_active() && profile_schema.field_with_name(&t.name).is_ok())
            .collect();
        let base = self.membership_sql(&catalog, &entity, &[&segment]).await?;
        let member = member_column(0);

        let kinds = |t: &TagDef| -> Result<(bool, bool)> {
            let ty = t.value_type.data_type().clone();
            let list = matches!(ty, DataType::List(_) | DataType::LargeList(_));
            Ok((list, ty.is_numeric()))
        };
        let mut choices: Vec<Choice> = Vec::new();
        if by.is_empty() {
            let cardinality = self.cardinalities(&entity.name, &tags).await?;
            for t in &tags {
                let (list, numeric) = kinds(t)?;
                let low = cardinality
                    .get(&t.name)
                    .is_some_and(|n| *n <= LOW_CARDINALITY);
                if t.sensitive || !(low || numeric) {
                    continue;
                }
                choices.push(Choice {
                    tag: t,
                    list,
                    distribution: low,
                    numeric: numeric && !list,
                });
            }
        } else {
            for name in by {
                let Some(t) = tags.iter().find(|t| &t.name == name) else {
                    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
                    return Err(Error::unknown(
                        "tag",
                        &format!("{}.{name}", entity.name),
                        names
                            .iter()
                            .map(|n| format!("{}.{n}", entity.name))
                            .collect::<Vec<_>>()
                            .iter()
                            .map(String::as_str),
                    ));
                };
                let (list, numeric) = kinds(t)?;
                choices.push(Choice {
                    tag: t,
                    list,
                    distribution: true,
                    numeric: numeric && !list,
                });
            }
        }

        self.usage.record(
            &entity.name,
            choices
                .iter()
                .map(|c| c.tag.name.as_str())
                .chain(segment.tags.iter().map(String::as_str)),
            "segment",
        );
        // Sizes and the distributions of scalar tags in one scan (GROUPING SETS: one set per
        // tag, plus the empty set for the totals); list tags unnest in their own branches.
        let scalar: Vec<(usize, &Choice)> = choices
            .iter()
            .enumerate()
            .filter(|(_, c)| c.distribution && !c.list)
            .collect();
        let mut projected = vec![format!("{member} AS __tf_m")];
        let mut sets = Vec::new();
        let mut which = Vec::new();
        let mut value = Vec::new();
        for (k, (i, c)) in scalar.iter().enumerate() {
            projected.push(format!(
                "CAST({} AS VARCHAR) AS __tf_v{k}",
                quote_ident(&c.tag.name)
            ));
            sets.push(format!("(__tf_v{k})"));
            which.push(format!("WHEN grouping(__tf_v{k}) = 0 THEN {i}"));
            value.push(format!("WHEN grouping(__tf_v{k}) = 0 THEN __tf_v{k}"));
        }
        sets.push("()".to_string());
        let (order_expr, value_expr) = if scalar.is_empty() {
            (
                "CAST(-1 AS BIGINT)".to_string(),
                "CAST(NULL AS VARCHAR)".to_string(),
            )
        } else {
            (
                format!("CAST(CASE {} ELSE -1 END AS BIGINT)", which.join(" ")),
                format!("CASE {} END", value.join(" ")),
            )
        };
        let mut branches = vec![format!(
            "SELECT {order_expr} AS o, {value_expr} AS v, \
                    count(*) FILTER (WHERE __tf_m) AS s, count(*) AS p \
             FROM (SELECT {} FROM __tf_base) AS __tf_vals GROUP BY GROUPING SETS ({})",
            projected.join(", "),
            sets.join(", ")
        )];
        for (i, c) in choices
            .iter()
            .enumerate()
            .filter(|(_, c)| c.distribution && c.list)
        {
            branches.push(format!(
                "SELECT CAST({i} AS BIGINT) AS o, CAST(__tf_e AS VARCHAR) AS v, \
                        count(*) FILTER (WHERE {member}) AS s, count(*) AS p \
                 FROM (SELECT unnest({}) AS __tf_e, {member} FROM __tf_base) AS __tf_u \
                 GROUP BY CAST(__tf_e AS VARCHAR)",
                quote_ident(&c.tag.name)
            ));
        }
        let sql = format!(
            "WITH __tf_base AS ({base}) {}",
            branches.join(" UNION ALL ")
        );
        let (mut population_size, mut segment_size) = (0, 0);
        let mut rows: Vec<Row> = Vec::new();
        for batch in self.ctx.sql(&sql).await?.collect().await? {
            let order = ints(&batch, 0);
            let value = batch.column(1).as_string::<i32>();
            let s = ints(&batch, 2);
            let p = ints(&batch, 3);
            for i in 0..batch.num_rows() {
                if order[i] < 0 {
                    (segment_size, population_size) = (s[i], p[i]);
                    continue;
                }
                let c = &choices[order[i] as usize];
                let v = (!value.is_null(i)).then(|| value.value(i).to_string());
                rows.push(Row {
                    order: order[i] as usize,
                    tag: c.tag.name.clone(),
                    numeric_value: if c.numeric {
                        v.as_deref().and_then(|v| v.parse().ok())
                    } else {
                        None
                    },
                    value: v,
                    segment: s[i],
                    population: p[i],
                    stat: None,
                    summary: 0,
                });
            }
        }
        // Numeric summaries.
        let numeric: Vec<(usize, &Choice)> = choices
            .iter()
            .enumerate()
            .filter(|(_, c)| c.numeric)
            .collect();
        if !numeric.is_empty() {
            let mut aggregates = Vec::new();
            for (_, c) in &numeric {
                let x = format!("CAST({} AS DOUBLE)", quote_ident(&c.tag.name));
                aggregates.push(format!("count({x}) FILTER (WHERE {member})"));
                aggregates.push(format!("count({x})"));
                for (_, q) in SUMMARIES {
                    let f = match q {
                        None => format!("avg({x})"),
                        Some(q) => format!("percentile_cont({x}, {q})"),
                    };
                    aggregates.push(format!("{f} FILTER (WHERE {member})"));
                    aggregates.push(f);
                }
            }
            let sql = format!("SELECT {} FROM ({base}) AS __tf_b", aggregates.join(", "));
            let batches = self.ctx.sql(&sql).await?.collect().await?;
            if let Some(b) = batches.iter().find(|b| b.num_rows() > 0) {
                let float = |i: usize| -> Option<f64> {
                    let a = b.column(i).as_primitive::<Float64Type>();
                    (!a.is_null(0)).then(|| a.value(0))
                };
                let mut col = 0;
                for (order, c) in &numeric {
                    let seg_n = ints(b, col)[0];
                    let pop_n = ints(b, col + 1)[0];
                    col += 2;
                    for (k, (label, _)) in SUMMARIES.iter().enumerate() {
                        let (s, p) = (float(col), float(col + 1));
                        col += 2;
                        rows.push(Row {
                            order: *order,
                            tag: c.tag.name.clone(),
                            value: Some(label.to_string()),
                            numeric_value: None,
                            segment: seg_n,
                            population: pop_n,
                            stat: Some((s.unwrap_or(f64::NAN), p.unwrap_or(f64::NAN))),
                            summary: k + 1,
                        });
                    }
                }
            }
        }

        // Small groups are suppressed for principals with a minimum group size (viewers).
        let k = crate::access::Principal::current().map_or(0, |p| p.min_group_size) as i64;
        if k > 0 {
            if segment_size < k {
                return Err(Error::Forbidden(format!(
                    "segment {} has fewer than {k} members: profiles of groups this small are not shown to your role",
                    name
                )));
            }
            rows.retain(|r| r.segment >= k && r.population >= k);
        }

        // Order: tag order; within a tag the distribution (numbers ascending, other values
        // by population, nulls last), then the summaries.
        rows.sort_by(|a, b| {
            a.order
                .cmp(&b.order)
                .then(a.summary.cmp(&b.summary))
                .then_with(|| a.value.is_none().cmp(&b.value.is_none()))
                .then_with(|| match (a.numeric_value, b.numeric_value) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                    _ => b.population.cmp(&a.population),
                })
                .then_with(|| a.value.cmp(&b.value))
        });
        let stat = |r: &Row, pick: fn((f64, f64)) -> f64| r.stat.map(pick).filter(|v| !v.is_nan());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.tag))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.value.as_deref()),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.segment))),
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| ratio(r.segment, segment_size)),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.population),
            )),
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| ratio(r.population, population_size)),
            )),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| match r.stat {
                None => index(
                    ratio(r.segment, segment_size),
                    ratio(r.population, population_size),
                ),
                Some(_) => index(stat(r, |s| s.0), stat(r, |s| s.1)),
            }))),
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| stat(r, |s| s.0)),
            )),
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| stat(r, |s| s.1)),
            )),
        ];
        let batch = RecordBatch::try_new(PROFILE_SCHEMA.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(Output::from_batches(PROFILE_SCHEMA.clone(), vec![batch]))
    }

    /// Approximate distinct values of each tag in the latest profile (list tags: of their
    /// elements), in one pass for the scalar tags (HyperLogLog: constant memory per tag).
    async fn cardinalities(&self, entity: &str, tags: &[&TagDef]) -> Result<HashMap<String, i64>> {
        let profile = format!("{}.profile", quote_ident(entity));
        let mut out = HashMap::new();
        let mut scalar = Vec::new();
        for t in tags {
            let ty = t.value_type.data_type().clone();
            let column = quote_ident(&t.name);
            if matches!(ty, DataType::List(_) | DataType::LargeList(_)) {
                let sql = format!(
                    "SELECT CAST(approx_distinct(CAST(e AS VARCHAR)) AS BIGINT) \
                     FROM (SELECT unnest({column}) AS e FROM {profile}) AS u"
                );
                for b in self.ctx.sql(&sql).await?.collect().await? {
                    if b.num_rows() > 0 {
                        out.insert(t.name.clone(), ints(&b, 0)[0]);
                    }
                }
            } else {
                scalar.push(t);
            }
        }
        if scalar.is_empty() {
            return Ok(out);
        }
        let columns: Vec<String> = scalar
            .iter()
            .map(|t| {
                format!(
                    "CAST(approx_distinct(CAST({} AS VARCHAR)) AS BIGINT) AS {}",
                    quote_ident(&t.name),
                    quote_ident(&t.name)
                )
            })
            .collect();
        let sql = format!("SELECT {} FROM {profile}", columns.join(", "));
        for b in self.ctx.sql(&sql).await?.collect().await? {
            if b.num_rows() == 0 {
                continue;
            }
            for (i, t) in scalar.iter().enumerate() {
                out.insert(t.name.clone(), ints(&b, i)[0]);
            }
        }
        Ok(out)
    }
}
