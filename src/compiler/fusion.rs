//! Fused scans: statistic tags that read the same table by the same key are computed in one
//! aggregation pass instead of one scan each.
//!
//! A tag query fuses when it has the plain shape
//!
//! ```text
//! SELECT <key column>, <value over aggregates> FROM <table> [WHERE a AND b …] GROUP BY <key> [HAVING …]
//! ```
//!
//! Tags of one (table, key) group become one query. The WHERE conjuncts every tag shares stay in
//! the WHERE; what is left of each tag's WHERE (its window, say `ts > as_of() - INTERVAL '30
//! days'`) becomes a `FILTER (WHERE …)` on each of its aggregates, and the rows the query reads
//! are those any tag needs (`WHERE common AND (rest1 OR rest2 …)`). A key that no row of a tag
//! matches must still get NULL from that tag (so its DEFAULT applies), not `count(*) = 0`: its
//! column is `CASE WHEN count(*) FILTER (WHERE rest) > 0 THEN value END`.
//!
//! `count(DISTINCT x)` becomes `unique_count(x)`, TagFusion's own flat-state aggregate: a
//! distinct aggregate beside others in one GROUP BY would make DataFusion 55 keep a hash set per
//! group (unbounded memory at millions of keys, shared/PERFORMANCE.md). Other DISTINCT
//! aggregates, window functions and subqueries keep their tag out of the fusion.
//!
//! A query whose top is `GROUP BY <its first column>` returns each key once by construction, so
//! it streams into the profile join as it is ([`Scan::Grouped`]); any other query is computed
//! alone and checked for duplicate keys ([`Scan::Checked`]).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, FunctionArguments, GroupByExpr, Ident, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, visit_expressions,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{KEY_COLUMN, VALUE_COLUMN};
use crate::catalog::TagDef;
use crate::parser::quote_ident;

/// How one or more statistic tags are computed.
#[derive(Debug)]
pub enum Scan<'a> {
    /// Several tags in one grouped query with columns `__tf_key`, `__tf_v0`, `__tf_v1`, …
    Fused {
        relation: String,
        tags: Vec<&'a TagDef>,
        sql: String,
    },
    /// One tag's own query, one row per key by its GROUP BY; columns `__tf_key`, `__tf_value`.
    Grouped { tag: &'a TagDef, sql: String },
    /// A query that may return a key twice: computed alone and checked.
    Checked { tag: &'a TagDef },
}

impl<'a> Scan<'a> {
    /// The tags this scan computes, with the column each one's value is in.
    pub fn columns(&self) -> Vec<(&'a TagDef, String)> {
        match self {
            Scan::Fused { tags, .. } => tags
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, fused_column(i)))
                .collect(),
            Scan::Grouped { tag, .. } | Scan::Checked { tag } => {
                vec![(*tag, VALUE_COLUMN.to_string())]
            }
        }
    }

    pub fn tags(&self) -> Vec<&'a TagDef> {
        self.columns().into_iter().map(|(t, _)| t).collect()
    }
}

/// The column of the `i`-th tag of a fused scan.
pub fn fused_column(i: usize) -> String {
    format!("__tf_v{i}")
}

/// A tag query's own query with its two columns named `__tf_key` and `__tf_value`.
pub fn keyed(query: &str) -> String {
    format!(
        "SELECT * FROM ({query}) AS __tf_q({}, {})",
        quote_ident(KEY_COLUMN),
        quote_ident(VALUE_COLUMN)
    )
}

/// Decides how each statistic tag is computed; `is_aggregate` tells aggregate function names
/// (lower case) from scalar ones. Scans come in the order of their first tag.
pub fn plan<'a>(tags: &[&'a TagDef], is_aggregate: &dyn Fn(&str) -> bool) -> Vec<Scan<'a>> {
    let mut groups: BTreeMap<(String, String), Vec<(&'a TagDef, Shape)>> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut scans: Vec<(usize, Scan<'a>)> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        match Shape::of(&tag.definition, is_aggregate) {
            Some(shape) => {
                let id = (shape.relation.clone(), shape.key.clone());
                if !groups.contains_key(&id) {
                    order.push(id.clone());
                }
                groups.entry(id).or_default().push((tag, shape));
            }
            None if groups_by_key(&tag.definition) => scans.push((
                i,
                Scan::Grouped {
                    tag,
                    sql: keyed(&tag.definition),
                },
            )),
            None => scans.push((i, Scan::Checked { tag })),
        }
    }
    let position = |t: &TagDef| tags.iter().position(|x| x.name == t.name).unwrap_or(0);
    for id in order {
        let Some(members) = groups.remove(&id) else {
            continue;
        };
        let first = position(members[0].0);
        let scan = match members.as_slice() {
            [(tag, _)] => Scan::Grouped {
                tag,
                sql: keyed(&tag.definition),
            },
            _ => Scan::Fused {
                relation: id.0.clone(),
                sql: fused_sql(&members, is_aggregate),
                tags: members.iter().map(|(t, _)| *t).collect(),
            },
        };
        scans.push((first, scan));
    }
    scans.sort_by_key(|(i, _)| *i);
    scans.into_iter().map(|(_, s)| s).collect()
}

/// A tag query taken apart (see the module comment for the shape).
#[derive(Debug, Clone)]
struct Shape {
    relation: String,
    key: String,
    value: Expr,
    conjuncts: Vec<Expr>,
    having: Option<Expr>,
}

impl Shape {
    fn of(query: &str, is_aggregate: &dyn Fn(&str) -> bool) -> Option<Shape> {
        let select = top_select(query)?;
        let [key_item, value_item] = select.projection.as_slice() else {
            return None;
        };
        let (key, value) = (item_expr(key_item)?, item_expr(value_item)?);
        if !matches!(key, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            return None;
        }
        let GroupByExpr::Expressions(group_by, modifiers) = &select.group_by else {
            return None;
        };
        if !modifiers.is_empty() || group_by.len() != 1 || group_by[0] != *key {
            return None;
        }
        let [from] = select.from.as_slice() else {
            return None;
        };
        if !from.joins.is_empty() {
            return None;
        }
        // Anything beyond the clauses read here (DISTINCT, QUALIFY, ORDER BY, LIMIT, WITH, …)
        // shows up as a difference from the query rebuilt from them.
        let rebuilt = format!(
            "SELECT {key_item}, {value_item} FROM {}{}{}{}",
            from.relation,
            clause(" WHERE ", select.selection.as_ref()),
            clause(" GROUP BY ", Some(&group_by[0])),
            clause(" HAVING ", select.having.as_ref()),
        );
        if parse_one(&rebuilt)?.to_string() != parse_one(query)?.to_string() {
            return None;
        }
        if !fusable_value(value, is_aggregate)
            || select
                .having
                .as_ref()
                .is_some_and(|h| !fusable(h, is_aggregate))
        {
            return None;
        }
        let mut conjuncts = Vec::new();
        if let Some(selection) = &select.selection {
            split_and(selection, &mut conjuncts);
        }
        if conjuncts.iter().any(has_subquery) {
            return None;
        }
        Some(Shape {
            relation: from.relation.to_string(),
            key: key.to_string(),
            value: value.clone(),
            conjuncts,
            having: select.having.clone(),
        })
    }
}

/// True when the query's top is a SELECT grouped by exactly its first column.
fn groups_by_key(query: &str) -> bool {
    let Some(select) = top_select(query) else {
        return false;
    };
    let (Some(first), GroupByExpr::Expressions(group_by, modifiers)) = (
        select.projection.first().and_then(item_expr),
        &select.group_by,
    ) else {
        return false;
    };
    select.projection.len() == 2
        && modifiers.is_empty()
        && matches!(group_by.as_slice(), [g] if g == first)
}

fn parse_one(query: &str) -> Option<Statement> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, query).ok()?;
    (statements.len() == 1).then(|| statements.remove(0))
}

fn top_select(query: &str) -> Option<Select> {
    let Statement::Query(q) = parse_one(query)? else {
        return None;
    };
    let Query { body, .. } = *q;
    match *body {
        SetExpr::Select(select) => Some(*select),
        _ => None,
    }
}

fn item_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

fn clause(keyword: &str, expr: Option<&Expr>) -> String {
    expr.map(|e| format!("{keyword}{e}")).unwrap_or_default()
}

fn function_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(Ident { value, .. })) => value.to_lowercase(),
        _ => String::new(),
    }
}

fn has_subquery(e: &Expr) -> bool {
    visit_expressions(e, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// No subquery, no window function, and DISTINCT only as `count(DISTINCT x)`.
fn fusable(e: &Expr, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    !has_subquery(e)
        && visit_expressions(e, |e| {
            let Expr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            let name = function_name(&f.name);
            let distinct = matches!(&f.args, FunctionArguments::List(l)
                if l.duplicate_treatment == Some(DuplicateTreatment::Distinct));
            let bad_distinct = distinct && !(name == "count" && is_aggregate(&name));
            if f.over.is_some() || bad_distinct {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_continue()
}

/// A fusable value that computes at least one aggregate.
fn fusable_value(e: &Expr, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    let aggregates = visit_expressions(e, |e| match e {
        Expr::Function(f) if is_aggregate(&function_name(&f.name)) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break();
    aggregates && fusable(e, is_aggregate)
}

fn split_and(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner)
            if matches!(
                **inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(inner, out)
        }
        other => out.push(other.clone()),
    }
}

/// `e` with `filter` added to every aggregate call (ANDed with a FILTER it has), and
/// `count(DISTINCT x)` as `unique_count(x)`.
fn filtered(e: &Expr, filter: Option<&Expr>, is_aggregate: &dyn Fn(&str) -> bool) -> Expr {
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |e| {
        if let Expr::Function(f) = e {
            let name = function_name(&f.name);
            if !is_aggregate(&name) || f.over.is_some() {
                return ControlFlow::<()>::Continue(());
            }
            if let FunctionArguments::List(list) = &mut f.args
                && name == "count"
                && list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
            {
                list.duplicate_treatment = None;
                f.name = ObjectName::from(vec![Ident::new("unique_count")]);
            }
            if let Some(filter) = filter {
                f.filter = Some(Box::new(match f.filter.take() {
                    Some(own) => and(&own, filter),
                    None => filter.clone(),
                }));
            }
        }
        ControlFlow::Continue(())
    });
    e
}

fn and(a: &Expr, b: &Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(Expr::Nested(Box::new(a.clone()))),
        op: BinaryOperator::And,
        right: Box::new(Expr::Nested(Box::new(b.clone()))),
    }
}

fn conjunction(parts: &[&Expr]) -> Option<Expr> {
    let (first, rest) = parts.split_first()?;
    Some(rest.iter().fold((*first).clone(), |acc, p| and(&acc, p)))
}

/// The one query for a group of tags over the same relation and key.
fn fused_sql(members: &[(&TagDef, Shape)], is_aggregate: &dyn Fn(&str) -> bool) -> String {
    let shapes: Vec<&Shape> = members.iter().map(|(_, s)| s).collect();
    let text = |e: &Expr| e.to_string();
    let common: Vec<&Expr> = shapes[0]
        .conjuncts
        .iter()
        .filter(|c| {
            shapes
                .iter()
                .all(|s| s.conjuncts.iter().any(|d| text(d) == text(c)))
        })
        .collect();
    let common_text: Vec<String> = common.iter().map(|c| text(c)).collect();
    let rests: Vec<Option<Expr>> = shapes
        .iter()
        .map(|s| {
            let own: Vec<&Expr> = s
                .conjuncts
                .iter()
                .filter(|c| !common_text.contains(&text(c)))
                .collect();
            conjunction(&own)
        })
        .collect();

    let key = &shapes[0].key;
    let mut columns = vec![format!("{key} AS {}", quote_ident(KEY_COLUMN))];
    for (i, (shape, rest)) in shapes.iter().zip(&rests).enumerate() {
        let value = filtered(&shape.value, rest.as_ref(), is_aggregate);
        let mut conditions: Vec<String> = Vec::new();
        if let Some(rest) = rest {
            conditions.push(format!("count(*) FILTER (WHERE {rest}) > 0"));
        }
        if let Some(having) = &shape.having {
            conditions.push(format!(
                "({})",
                filtered(having, rest.as_ref(), is_aggregate)
            ));
        }
        let column = quote_ident(&fused_column(i));
        columns.push(if conditions.is_empty() {
            format!("{value} AS {column}")
        } else {
            format!(
                "CASE WHEN {} THEN {value} END AS {column}",
                conditions.join(" AND ")
            )
        });
    }

    let mut wheres: Vec<String> = common_text.iter().map(|c| format!("({c})")).collect();
    if rests.iter().all(Option::is_some) {
        let mut alternatives: Vec<String> = Vec::new();
        for r in rests.iter().flatten() {
            let r = format!("({r})");
            if !alternatives.contains(&r) {
                alternatives.push(r);
            }
        }
        wheres.push(format!("({})", alternatives.join(" OR ")));
    }
    format!(
        "SELECT {}\nFROM {}{}\nGROUP BY {key}",
        columns.join(",\n  "),
        shapes[0].relation,
        if wheres.is_empty() {
            String::new()
        } else {
            format!("\nWHERE {}", wheres.join(" AND "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DefinitionKind, testing};

    fn is_aggregate(name: &str) -> bool {
        matches!(
            name,
            "count" | "sum" | "min" | "max" | "avg" | "most_frequent" | "unique_count"
        )
    }

    fn query_tag(name: &str, query: &str) -> TagDef {
        TagDef {
            definition_kind: DefinitionKind::Query,
            definition: query.to_string(),
            ..testing::tag("c", name)
        }
    }

    const D30: &str = "ts > as_of() - INTERVAL '30 days'";

    #[test]
    fn windows_over_one_table_fuse_into_one_scan_with_filters() {
        let tags = [
            query_tag(
                "orders_30d",
                &format!(
                    "SELECT customer_id, count(*) FROM orders WHERE {D30} AND ts <= as_of() GROUP BY customer_id"
                ),
            ),
            query_tag(
                "last_order_at",
                "SELECT customer_id, max(ts) FROM orders WHERE ts <= as_of() GROUP BY customer_id",
            ),
            query_tag(
                "categories_30d",
                &format!(
                    "SELECT customer_id, count(DISTINCT category) FROM orders WHERE {D30} AND ts <= as_of() GROUP BY customer_id"
                ),
            ),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let scans = plan(&refs, &is_aggregate);
        let [
            Scan::Fused {
                sql,
                tags,
                relation,
            },
        ] = scans.as_slice()
        else {
            panic!("expected one fused scan, got {scans:?}");
        };
        assert_eq!(relation, "orders");
        assert_eq!(tags.len(), 3);
        assert_eq!(
            sql,
            "SELECT customer_id AS \"__tf_key\",\n  \
             CASE WHEN count(*) FILTER (WHERE ts > as_of() - INTERVAL '30 days') > 0 THEN count(*) FILTER (WHERE ts > as_of() - INTERVAL '30 days') END AS \"__tf_v0\",\n  \
             max(ts) AS \"__tf_v1\",\n  \
             CASE WHEN count(*) FILTER (WHERE ts > as_of() - INTERVAL '30 days') > 0 THEN unique_count(category) FILTER (WHERE ts > as_of() - INTERVAL '30 days') END AS \"__tf_v2\"\n\
             FROM orders\nWHERE (ts <= as_of())\nGROUP BY customer_id"
        );
    }

    #[test]
    fn every_tag_filtered_reads_only_the_rows_some_tag_needs() {
        let tags = [
            query_tag(
                "shares",
                "SELECT customer_id, count(*) FROM app_events WHERE event = 'share' GROUP BY customer_id",
            ),
            query_tag(
                "views",
                "SELECT customer_id, count(*) FROM app_events WHERE event = 'view' GROUP BY customer_id HAVING count(*) >= 2",
            ),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let scans = plan(&refs, &is_aggregate);
        let [Scan::Fused { sql, .. }] = scans.as_slice() else {
            panic!("expected one fused scan");
        };
        assert!(
            sql.ends_with("WHERE ((event = 'share') OR (event = 'view'))\nGROUP BY customer_id"),
            "{sql}"
        );
        assert!(
            sql.contains("CASE WHEN count(*) FILTER (WHERE event = 'view') > 0 AND (count(*) FILTER (WHERE event = 'view') >= 2) THEN"),
            "{sql}"
        );
    }

    #[test]
    fn other_shapes_stream_alone_or_are_checked() {
        let tags = [
            query_tag(
                "near",
                "SELECT c.customer_id, min(d) FROM customers c JOIN stores s ON s.city = c.city GROUP BY c.customer_id",
            ),
            query_tag("raw", "SELECT customer_id, score FROM scores"),
            query_tag(
                "ranked",
                "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id ORDER BY 2 LIMIT 10",
            ),
            query_tag(
                "windowed",
                "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id, channel",
            ),
            query_tag(
                "distinct_sum",
                "SELECT customer_id, sum(DISTINCT amount) FROM orders GROUP BY customer_id",
            ),
            query_tag(
                "spend",
                "SELECT customer_id, round(sum(amount), 2) FROM orders GROUP BY customer_id",
            ),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let scans = plan(&refs, &is_aggregate);
        let kinds: Vec<(String, &str)> = scans
            .iter()
            .map(|s| {
                let kind = match s {
                    Scan::Fused { .. } => "fused",
                    Scan::Grouped { .. } => "grouped",
                    Scan::Checked { .. } => "checked",
                };
                (s.tags()[0].name.clone(), kind)
            })
            .collect();
        let expected = [
            ("near", "grouped"),
            ("raw", "checked"),
            ("ranked", "grouped"),
            ("windowed", "checked"),
            ("distinct_sum", "grouped"),
            ("spend", "grouped"),
        ];
        let expected: Vec<(String, &str)> =
            expected.iter().map(|(n, k)| (n.to_string(), *k)).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn different_keys_or_tables_do_not_fuse() {
        let tags = [
            query_tag(
                "a",
                "SELECT customer_id, count(*) FROM orders GROUP BY customer_id",
            ),
            query_tag(
                "b",
                "SELECT customer_id, count(*) FROM app_events GROUP BY customer_id",
            ),
            query_tag(
                "c",
                "SELECT o.customer_id, sum(o.amount) FROM orders o GROUP BY o.customer_id",
            ),
            query_tag(
                "d",
                "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id",
            ),
        ];
        let refs: Vec<&TagDef> = tags.iter().collect();
        let scans = plan(&refs, &is_aggregate);
        let names: Vec<Vec<String>> = scans
            .iter()
            .map(|s| s.tags().iter().map(|t| t.name.clone()).collect())
            .collect();
        assert_eq!(names, vec![vec!["a", "d"], vec!["b"], vec!["c"]]);
    }
}
