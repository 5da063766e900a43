//! Segment profile (群体画像): how a segment's tag values are distributed against the whole
//! population, with TGI = segment_share / population_share × 100.
//!
//! Built in named steps: [`choose_named`] / [`choose_unnamed`] pick the tags; one UNION ALL
//! query ([`distributions_sql`]) counts the sizes and every chosen tag's values inside and
//! outside the segment (list-valued tags count each element: the share of members whose list
//! holds it); one query ([`summaries_sql`]) summarises numeric tags (mean and quartiles,
//! exact); [`suppress_small_groups`] hides small groups from viewers; [`display_order`] orders
//! the rows; [`SegmentProfile`] carries the result, [`SegmentProfile::to_batch`] turns it into
//! [`PROFILE_SCHEMA`] rows.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use serde::Serialize;

use crate::catalog::{Catalog, TagDef};
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

/// A segment's profile against the population: what `PROFILE SEGMENT` and `segment_profile()`
/// show (as [`PROFILE_SCHEMA`] rows) and what the HTML report draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentProfile {
    /// Members of the segment.
    pub segment_size: i64,
    /// Rows of the latest profile: the population the segment is compared with.
    pub population_size: i64,
    /// In display order: per tag its values (distribution), then its summaries (numeric).
    pub rows: Vec<ProfileRow>,
}

/// One row of a segment profile: a tag value (or a numeric summary such as `median`) with its
/// counts and shares inside the segment and in the population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileRow {
    pub tag: String,
    /// The value as text; for a summary row its label (`mean`, `p25`, `median`, `p75`).
    pub value: Option<String>,
    /// Members holding the value (summaries: members with a value at all).
    pub segment_count: i64,
    pub segment_share: Option<f64>,
    pub population_count: i64,
    pub population_share: Option<f64>,
    /// segment_share / population_share × 100; for summaries segment_stat / population_stat × 100.
    pub tgi: Option<f64>,
    /// Summaries only: the statistic over the segment.
    pub segment_stat: Option<f64>,
    /// Summaries only: the statistic over the population.
    pub population_stat: Option<f64>,
}

impl SegmentProfile {
    /// Computes the shares and TGIs of counted rows (already suppressed and ordered).
    fn from_counts(segment_size: i64, population_size: i64, rows: Vec<Counted>) -> Self {
        let rows = rows
            .into_iter()
            .map(|r| ProfileRow::new(r, segment_size, population_size))
            .collect();
        SegmentProfile {
            segment_size,
            population_size,
            rows,
        }
    }

    /// The rows as one [`PROFILE_SCHEMA`] batch.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let rows = &self.rows;
        let floats = |pick: fn(&ProfileRow) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter(rows.iter().map(pick)))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.tag))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.value.as_deref()),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.segment_count),
            )),
            floats(|r| r.segment_share),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.population_count),
            )),
            floats(|r| r.population_share),
            floats(|r| r.tgi),
            floats(|r| r.segment_stat),
            floats(|r| r.population_stat),
        ];
        Ok(RecordBatch::try_new(PROFILE_SCHEMA.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?)
    }

    /// The result of the statement `PROFILE SEGMENT` (and of `segment_profile()`).
    pub fn into_output(self) -> Result<Output> {
        let batch = self.to_batch()?;
        Ok(Output::from_batches(PROFILE_SCHEMA.clone(), vec![batch]))
    }
}

impl ProfileRow {
    fn new(r: Counted, segment_size: i64, population_size: i64) -> Self {
        let segment_share = ratio(r.segment, segment_size);
        let population_share = ratio(r.population, population_size);
        // A missing statistic (no values) is NaN in `stat`: shown as NULL.
        let stat = |pick: fn((f64, f64)) -> f64| r.stat.map(pick).filter(|v| !v.is_nan());
        let (segment_stat, population_stat) = (stat(|s| s.0), stat(|s| s.1));
        let tgi = match r.stat {
            None => index(segment_share, population_share),
            Some(_) => index(segment_stat, population_stat),
        };
        ProfileRow {
            tag: r.tag,
            value: r.value,
            segment_count: r.segment,
            segment_share,
            population_count: r.population,
            population_share,
            tgi,
            segment_stat,
            population_stat,
        }
    }
}

/// How one tag is profiled.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    tag: String,
    /// List-valued: the distribution counts its elements.
    list: bool,
    /// Its values are counted.
    distribution: bool,
    /// A numeric scalar: summarised (mean, quartiles) and its values ordered as numbers.
    numeric: bool,
}

impl Choice {
    fn of(tag: &TagDef, distribution: bool) -> Self {
        let ty = tag.value_type.data_type();
        let list = is_list(ty);
        Choice {
            tag: tag.name.clone(),
            list,
            distribution,
            numeric: ty.is_numeric() && !list,
        }
    }
}

/// One output row before its shares are computed.
#[derive(Debug, Clone, PartialEq)]
struct Counted {
    /// The tag's position among the choices.
    order: usize,
    /// 0 for a value of the distribution, k for the k-th of [`SUMMARIES`].
    summary: usize,
    tag: String,
    value: Option<String>,
    /// The value as a number, for numeric tags: their values order as numbers.
    numeric_value: Option<f64>,
    segment: i64,
    population: i64,
    /// Summaries: the statistic over (segment, population), NaN where there is none.
    stat: Option<(f64, f64)>,
}

fn is_list(ty: &DataType) -> bool {
    matches!(ty, DataType::List(_) | DataType::LargeList(_))
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

/// Without BY: every non-sensitive tag with few distinct values (its distribution) or numeric
/// (its summaries; its distribution too when it has few values), in catalog order.
fn choose_unnamed(tags: &[&TagDef], cardinality: &HashMap<String, i64>) -> Vec<Choice> {
    let mut choices = Vec::new();
    for t in tags {
        let low = cardinality
            .get(&t.name)
            .is_some_and(|n| *n <= LOW_CARDINALITY);
        let choice = Choice::of(t, low);
        if t.sensitive || !(low || choice.numeric) {
            continue;
        }
        choices.push(choice);
    }
    choices
}

/// With BY: the named tags in the order named, each with its distribution.
fn choose_named(entity: &str, tags: &[&TagDef], by: &[String]) -> Result<Vec<Choice>> {
    by.iter()
        .map(|name| match tags.iter().find(|t| &t.name == name) {
            Some(t) => Ok(Choice::of(t, true)),
            None => {
                let names: Vec<String> = tags
                    .iter()
                    .map(|t| format!("{entity}.{}", t.name))
                    .collect();
                Err(Error::unknown(
                    "tag",
                    &format!("{entity}.{name}"),
                    names.iter().map(String::as_str),
                ))
            }
        })
        .collect()
}

/// The distributions query: the sizes and the distributions of scalar tags in one scan
/// (GROUPING SETS: one set per tag, plus the empty set for the totals, marked by order -1);
/// list tags unnest in their own branches. Columns: o (the tag's order), v, s, p.
fn distributions_sql(base: &str, member: &str, choices: &[Choice]) -> String {
    let mut branches = vec![scalar_branch(member, choices)];
    for (i, c) in choices
        .iter()
        .enumerate()
        .filter(|(_, c)| c.distribution && c.list)
    {
        branches.push(list_branch(member, i, &c.tag));
    }
    format!(
        "WITH __tf_base AS ({base}) {}",
        branches.join(" UNION ALL ")
    )
}

/// The GROUPING SETS branch: the totals and every scalar tag's values.
fn scalar_branch(member: &str, choices: &[Choice]) -> String {
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
            quote_ident(&c.tag)
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
    format!(
        "SELECT {order_expr} AS o, {value_expr} AS v, \
                count(*) FILTER (WHERE __tf_m) AS s, count(*) AS p \
         FROM (SELECT {} FROM __tf_base) AS __tf_vals GROUP BY GROUPING SETS ({})",
        projected.join(", "),
        sets.join(", ")
    )
}

/// The branch of list tag `tag` (the `order`-th choice): its elements' counts.
fn list_branch(member: &str, order: usize, tag: &str) -> String {
    format!(
        "SELECT CAST({order} AS BIGINT) AS o, CAST(__tf_e AS VARCHAR) AS v, \
                count(*) FILTER (WHERE {member}) AS s, count(*) AS p \
         FROM (SELECT unnest({}) AS __tf_e, {member} FROM __tf_base) AS __tf_u \
         GROUP BY CAST(__tf_e AS VARCHAR)",
        quote_ident(tag)
    )
}

/// The sizes and counted values read from the distributions query.
#[derive(Debug, Default)]
struct Distributions {
    segment_size: i64,
    population_size: i64,
    rows: Vec<Counted>,
}

/// Reads the batches of [`distributions_sql`]: the totals row gives the sizes.
fn read_distributions(batches: &[RecordBatch], choices: &[Choice]) -> Distributions {
    let mut out = Distributions::default();
    for batch in batches {
        let order = ints(batch, 0);
        let value = batch.column(1).as_string::<i32>();
        let s = ints(batch, 2);
        let p = ints(batch, 3);
        for i in 0..batch.num_rows() {
            if order[i] < 0 {
                (out.segment_size, out.population_size) = (s[i], p[i]);
                continue;
            }
            let c = &choices[order[i] as usize];
            let v = (!value.is_null(i)).then(|| value.value(i).to_string());
            out.rows.push(Counted {
                order: order[i] as usize,
                summary: 0,
                tag: c.tag.clone(),
                numeric_value: if c.numeric {
                    v.as_deref().and_then(|v| v.parse().ok())
                } else {
                    None
                },
                value: v,
                segment: s[i],
                population: p[i],
                stat: None,
            });
        }
    }
    out
}

/// The numeric summaries query (one row): per numeric choice the counts of values in the
/// segment and the population, then each of [`SUMMARIES`] over the segment and the population.
fn summaries_sql(base: &str, member: &str, numeric: &[&Choice]) -> String {
    let mut aggregates = Vec::new();
    for c in numeric {
        let x = format!("CAST({} AS DOUBLE)", quote_ident(&c.tag));
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
    format!("SELECT {} FROM ({base}) AS __tf_b", aggregates.join(", "))
}

/// Reads the row of [`summaries_sql`]: [`SUMMARIES`] rows per numeric choice (`(order, choice)`).
fn read_summaries(b: &RecordBatch, numeric: &[(usize, &Choice)]) -> Vec<Counted> {
    let float = |i: usize| -> Option<f64> {
        let a = b.column(i).as_primitive::<Float64Type>();
        (!a.is_null(0)).then(|| a.value(0))
    };
    let mut rows = Vec::new();
    let mut col = 0;
    for (order, c) in numeric {
        let seg_n = ints(b, col)[0];
        let pop_n = ints(b, col + 1)[0];
        col += 2;
        for (k, (label, _)) in SUMMARIES.iter().enumerate() {
            let (s, p) = (float(col), float(col + 1));
            col += 2;
            rows.push(Counted {
                order: *order,
                summary: k + 1,
                tag: c.tag.clone(),
                value: Some(label.to_string()),
                numeric_value: None,
                segment: seg_n,
                population: pop_n,
                stat: Some((s.unwrap_or(f64::NAN), p.unwrap_or(f64::NAN))),
            });
        }
    }
    rows
}

/// For principals with a minimum group size `min_group` (viewers; 0: no minimum): a segment
/// smaller than it is refused, and rows counting fewer in the segment or the population are
/// dropped.
fn suppress_small_groups(
    rows: &mut Vec<Counted>,
    segment_size: i64,
    min_group: i64,
    segment: &QualifiedName,
) -> Result<()> {
    let k = min_group;
    if k > 0 {
        if segment_size < k {
            return Err(Error::Forbidden(format!(
                "segment {} has fewer than {k} members: profiles of groups this small are not shown to your role",
                segment
            )));
        }
        rows.retain(|r| r.segment >= k && r.population >= k);
    }
    Ok(())
}

/// Display order: tag order; within a tag the distribution (numbers ascending, other values by
/// population, nulls last), then the summaries.
fn display_order(a: &Counted, b: &Counted) -> Ordering {
    a.order
        .cmp(&b.order)
        .then(a.summary.cmp(&b.summary))
        .then_with(|| a.value.is_none().cmp(&b.value.is_none()))
        .then_with(|| match (a.numeric_value, b.numeric_value) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => b.population.cmp(&a.population),
        })
        .then_with(|| a.value.cmp(&b.value))
}

impl Engine {
    /// `PROFILE SEGMENT entity.segment [BY tag, …]` / `segment_profile('entity.segment', …)`.
    pub async fn segment_profile(
        &self,
        name: &QualifiedName,
        by: &[String],
    ) -> Result<SegmentProfile> {
        let catalog = self.catalog();
        let segment = catalog.segment(name)?.clone();
        let entity = catalog.entity(&name.entity)?.clone();
        let tags = self.profiled_tags(&catalog, &entity.name).await?;
        let base = self.membership_sql(&catalog, &entity, &[&segment]).await?;
        let choices = if by.is_empty() {
            let cardinality = self.cardinalities(&entity.name, &tags).await?;
            choose_unnamed(&tags, &cardinality)
        } else {
            choose_named(&entity.name, &tags, by)?
        };
        self.usage.record(
            &entity.name,
            choices
                .iter()
                .map(|c| c.tag.as_str())
                .chain(segment.tags.iter().map(String::as_str)),
            "segment",
        );
        let member = member_column(0);
        let sql = distributions_sql(&base, &member, &choices);
        let batches = self.ctx.sql(&sql).await?.collect().await?;
        let Distributions {
            segment_size,
            population_size,
            mut rows,
        } = read_distributions(&batches, &choices);
        rows.extend(self.numeric_summaries(&base, &member, &choices).await?);
        let min_group = crate::access::Principal::current().map_or(0, |p| p.min_group_size);
        suppress_small_groups(&mut rows, segment_size, min_group as i64, name)?;
        rows.sort_by(display_order);
        Ok(SegmentProfile::from_counts(
            segment_size,
            population_size,
            rows,
        ))
    }

    /// The active tags of `entity` that its latest profile has a column for.
    async fn profiled_tags<'a>(
        &self,
        catalog: &'a Catalog,
        entity: &str,
    ) -> Result<Vec<&'a TagDef>> {
        let profile = self
            .ctx
            .table(format!("{}.profile", quote_ident(entity)).as_str())
            .await
            .map_err(|_| {
                Error::invalid(format!(
                    "entity {entity} has no snapshot yet; run REFRESH ENTITY {entity} first"
                ))
            })?;
        let schema = profile.schema().as_arrow().clone();
        Ok(catalog
            .tags_of(entity)
            .iter()
            .filter(|t| t.is_active() && schema.field_with_name(&t.name).is_ok())
            .collect())
    }

    /// The summary rows of the numeric choices (none without numeric choices).
    async fn numeric_summaries(
        &self,
        base: &str,
        member: &str,
        choices: &[Choice],
    ) -> Result<Vec<Counted>> {
        let numeric: Vec<(usize, &Choice)> = choices
            .iter()
            .enumerate()
            .filter(|(_, c)| c.numeric)
            .collect();
        if numeric.is_empty() {
            return Ok(Vec::new());
        }
        let only: Vec<&Choice> = numeric.iter().map(|(_, c)| *c).collect();
        let sql = summaries_sql(base, member, &only);
        let batches = self.ctx.sql(&sql).await?.collect().await?;
        Ok(match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => read_summaries(b, &numeric),
            None => Vec::new(),
        })
    }

    /// Approximate distinct values of each tag in the latest profile (list tags: of their
    /// elements), in one pass for the scalar tags (HyperLogLog: constant memory per tag).
    async fn cardinalities(&self, entity: &str, tags: &[&TagDef]) -> Result<HashMap<String, i64>> {
        let profile = format!("{}.profile", quote_ident(entity));
        let mut out = HashMap::new();
        let (lists, scalar): (Vec<&TagDef>, Vec<&TagDef>) =
            tags.iter().partition(|t| is_list(t.value_type.data_type()));
        for t in lists {
            let sql = list_cardinality_sql(&profile, &t.name);
            for b in self.ctx.sql(&sql).await?.collect().await? {
                if b.num_rows() > 0 {
                    out.insert(t.name.clone(), ints(&b, 0)[0]);
                }
            }
        }
        if scalar.is_empty() {
            return Ok(out);
        }
        let sql = scalar_cardinality_sql(&profile, &scalar);
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

/// Approximate distinct elements of list tag `tag` in `profile`.
fn list_cardinality_sql(profile: &str, tag: &str) -> String {
    format!(
        "SELECT CAST(approx_distinct(CAST(e AS VARCHAR)) AS BIGINT) \
         FROM (SELECT unnest({}) AS e FROM {profile}) AS u",
        quote_ident(tag)
    )
}

/// Approximate distinct values of every scalar tag of `tags` in `profile`, one column each.
fn scalar_cardinality_sql(profile: &str, tags: &[&TagDef]) -> String {
    let columns: Vec<String> = tags
        .iter()
        .map(|t| {
            format!(
                "CAST(approx_distinct(CAST({} AS VARCHAR)) AS BIGINT) AS {}",
                quote_ident(&t.name),
                quote_ident(&t.name)
            )
        })
        .collect();
    format!("SELECT {} FROM {profile}", columns.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ValueType, testing};
    use crate::parser::TagKind;

    fn tag(name: &str, ty: DataType, sensitive: bool) -> TagDef {
        TagDef {
            kind: TagKind::Rule,
            value_type: ValueType::new(ty),
            sensitive,
            ..testing::tag("customer", name)
        }
    }

    fn list_of(ty: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", ty, true)))
    }

    fn choice(tag: &str, list: bool, distribution: bool, numeric: bool) -> Choice {
        Choice {
            tag: tag.into(),
            list,
            distribution,
            numeric,
        }
    }

    fn counted(order: usize, summary: usize, value: Option<&str>, population: i64) -> Counted {
        Counted {
            order,
            summary,
            tag: format!("t{order}"),
            value: value.map(str::to_string),
            numeric_value: value.and_then(|v| v.parse().ok()),
            segment: population / 2,
            population,
            stat: None,
        }
    }

    #[test]
    fn ratio_and_index_have_no_value_without_a_base() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(1, 0), None);
        assert_eq!(index(Some(0.5), Some(0.25)), Some(200.0));
        assert_eq!(index(Some(0.5), Some(0.0)), None);
        assert_eq!(index(None, Some(0.5)), None);
    }

    #[test]
    fn rows_get_shares_and_tgi() {
        let value = Counted {
            stat: None,
            segment: 10,
            population: 40,
            ..counted(0, 0, Some("a"), 40)
        };
        let row = ProfileRow::new(value, 20, 200);
        assert_eq!(row.segment_share, Some(0.5));
        assert_eq!(row.population_share, Some(0.2));
        assert_eq!(row.tgi, Some(250.0));
        assert_eq!((row.segment_stat, row.population_stat), (None, None));

        // Summaries: TGI compares the statistics; a missing one (NaN) is NULL.
        let mean = Counted {
            stat: Some((3.0, 2.0)),
            ..counted(0, 1, Some("mean"), 40)
        };
        let row = ProfileRow::new(mean, 20, 200);
        assert_eq!(
            (row.segment_stat, row.population_stat),
            (Some(3.0), Some(2.0))
        );
        assert_eq!(row.tgi, Some(150.0));
        let none = Counted {
            stat: Some((f64::NAN, 2.0)),
            ..counted(0, 1, Some("mean"), 40)
        };
        let row = ProfileRow::new(none, 20, 200);
        assert_eq!((row.segment_stat, row.tgi), (None, None));
        // An empty population: no shares.
        let row = ProfileRow::new(counted(0, 0, Some("a"), 0), 0, 0);
        assert_eq!((row.segment_share, row.tgi), (None, None));
    }

    #[test]
    fn unnamed_choice_takes_low_cardinality_and_numeric_tags() {
        let tags = [
            tag("gender", DataType::Utf8, false),
            tag("city", DataType::Utf8, false),
            tag("phone", DataType::Utf8, true),
            tag("age", DataType::Int64, false),
            tag("orders", DataType::Int64, false),
            tag("interests", list_of(DataType::Utf8), false),
            tag("scores", list_of(DataType::Int64), false),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let cardinality: HashMap<String, i64> = [
            ("gender", 3),
            ("city", 300),
            ("phone", 2),
            ("age", 50),
            ("orders", LOW_CARDINALITY),
            ("interests", 8),
            ("scores", 90),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            choose_unnamed(&refs, &cardinality),
            vec![
                choice("gender", false, true, false),
                choice("age", false, false, true),
                choice("orders", false, true, true),
                choice("interests", true, true, false),
            ]
        );
    }

    #[test]
    fn named_choice_keeps_the_order_named_and_rejects_unknown_tags() {
        let tags = [
            tag("gender", DataType::Utf8, false),
            tag("age", DataType::Int64, false),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let by = ["age".to_string(), "gender".to_string()];
        assert_eq!(
            choose_named("customer", &refs, &by).ok(),
            Some(vec![
                choice("age", false, true, true),
                choice("gender", false, true, false),
            ])
        );
        let err = choose_named("customer", &refs, &["gendre".to_string()]);
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("customer.gendre"), "{message}");
        assert!(message.contains("customer.gender"), "{message}");
    }

    #[test]
    fn distributions_sql_groups_scalar_tags_and_unnests_lists() {
        let choices = [
            choice("gender", false, true, false),
            choice("age", false, false, true),
            choice("tags", true, true, false),
            choice("city", false, true, false),
        ];
        let sql = distributions_sql("SELECT 1", "m", &choices);
        assert_eq!(
            sql,
            "WITH __tf_base AS (SELECT 1) \
             SELECT CAST(CASE WHEN grouping(__tf_v0) = 0 THEN 0 WHEN grouping(__tf_v1) = 0 THEN 3 ELSE -1 END AS BIGINT) AS o, \
                    CASE WHEN grouping(__tf_v0) = 0 THEN __tf_v0 WHEN grouping(__tf_v1) = 0 THEN __tf_v1 END AS v, \
                    count(*) FILTER (WHERE __tf_m) AS s, count(*) AS p \
             FROM (SELECT m AS __tf_m, CAST(\"gender\" AS VARCHAR) AS __tf_v0, CAST(\"city\" AS VARCHAR) AS __tf_v1 FROM __tf_base) AS __tf_vals \
             GROUP BY GROUPING SETS ((__tf_v0), (__tf_v1), ()) \
             UNION ALL \
             SELECT CAST(2 AS BIGINT) AS o, CAST(__tf_e AS VARCHAR) AS v, \
                    count(*) FILTER (WHERE m) AS s, count(*) AS p \
             FROM (SELECT unnest(\"tags\") AS __tf_e, m FROM __tf_base) AS __tf_u \
             GROUP BY CAST(__tf_e AS VARCHAR)"
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        // Without scalar distributions the branch only counts the totals.
        let sql = scalar_branch("m", &[]);
        assert!(sql.starts_with("SELECT CAST(-1 AS BIGINT) AS o, CAST(NULL AS VARCHAR) AS v, "));
        assert!(sql.ends_with("GROUP BY GROUPING SETS (())"), "{sql}");
    }

    #[test]
    fn summaries_sql_counts_then_summarises_each_tag() {
        let age = choice("age", false, false, true);
        let sql = summaries_sql("SELECT 1", "m", &[&age]);
        let x = "CAST(\"age\" AS DOUBLE)";
        let expected = [
            format!("count({x}) FILTER (WHERE m)"),
            format!("count({x})"),
            format!("avg({x}) FILTER (WHERE m)"),
            format!("avg({x})"),
            format!("percentile_cont({x}, 0.25) FILTER (WHERE m)"),
            format!("percentile_cont({x}, 0.25)"),
            format!("percentile_cont({x}, 0.5) FILTER (WHERE m)"),
            format!("percentile_cont({x}, 0.5)"),
            format!("percentile_cont({x}, 0.75) FILTER (WHERE m)"),
            format!("percentile_cont({x}, 0.75)"),
        ];
        assert_eq!(
            sql,
            format!("SELECT {} FROM (SELECT 1) AS __tf_b", expected.join(", "))
        );
    }

    #[test]
    fn cardinality_sql() {
        let age = tag("age", DataType::Int64, false);
        let city = tag("city", DataType::Utf8, false);
        assert_eq!(
            scalar_cardinality_sql("p", &[&age, &city]),
            "SELECT CAST(approx_distinct(CAST(\"age\" AS VARCHAR)) AS BIGINT) AS \"age\", \
             CAST(approx_distinct(CAST(\"city\" AS VARCHAR)) AS BIGINT) AS \"city\" FROM p"
        );
        assert_eq!(
            list_cardinality_sql("p", "tags"),
            "SELECT CAST(approx_distinct(CAST(e AS VARCHAR)) AS BIGINT) \
             FROM (SELECT unnest(\"tags\") AS e FROM p) AS u"
        );
    }

    #[test]
    fn small_groups_are_suppressed_for_viewers() {
        let name = QualifiedName {
            entity: "customer".into(),
            name: "vip".into(),
        };
        let rows = vec![counted(0, 0, Some("a"), 40), counted(0, 0, Some("b"), 6)];
        let mut kept = rows.clone();
        assert!(suppress_small_groups(&mut kept, 10, 0, &name).is_ok());
        assert_eq!(kept, rows);
        // Segment counts are population / 2: 20 and 3.
        assert!(suppress_small_groups(&mut kept, 10, 5, &name).is_ok());
        assert_eq!(kept, rows[..1]);
        let refused = suppress_small_groups(&mut kept, 4, 5, &name);
        assert!(matches!(refused, Err(Error::Forbidden(m)) if m.starts_with(
            "segment customer.vip has fewer than 5 members"
        )));
    }

    #[test]
    fn rows_order_by_tag_then_values_then_summaries() {
        let mut rows = [
            counted(1, 0, Some("x"), 5),
            counted(0, 2, Some("p25"), 9),
            counted(0, 0, None, 100),
            counted(0, 0, Some("10"), 1),
            counted(0, 1, Some("mean"), 9),
            counted(0, 0, Some("9"), 2),
            counted(1, 0, Some("y"), 7),
            counted(1, 0, Some("a"), 5),
        ];
        rows.sort_by(display_order);
        let order: Vec<(usize, Option<&str>)> =
            rows.iter().map(|r| (r.order, r.value.as_deref())).collect();
        assert_eq!(
            order,
            vec![
                // Numbers ascending, nulls last, then the summaries in their order.
                (0, Some("9")),
                (0, Some("10")),
                (0, None),
                (0, Some("mean")),
                (0, Some("p25")),
                // Other values by population (descending), ties by value.
                (1, Some("y")),
                (1, Some("a")),
                (1, Some("x")),
            ]
        );
    }

    #[test]
    fn a_profile_becomes_one_batch_of_the_profile_schema() {
        let profile = SegmentProfile::from_counts(
            20,
            200,
            vec![
                counted(0, 0, Some("a"), 40),
                Counted {
                    stat: Some((3.0, f64::NAN)),
                    ..counted(0, 1, Some("mean"), 40)
                },
            ],
        );
        let batch = profile.to_batch().ok();
        let batch = batch.as_ref();
        assert_eq!(batch.map(|b| b.schema()), Some(PROFILE_SCHEMA.clone()));
        assert_eq!(batch.map(|b| b.num_rows()), Some(2));
        let tgi = batch.map(|b| b.column(6).as_primitive::<Float64Type>().clone());
        assert_eq!(
            tgi.map(|a| a.iter().collect::<Vec<_>>()),
            Some(vec![Some(500.0), None])
        );
    }
}
