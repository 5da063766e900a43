//! The tag compiler: turns an entity's tag definitions into one DataFusion query that yields
//! the profile (one row per key, one column per tag).
//!
//! Shape of the compiled query (see docs/architecture.md):
//!
//! ```text
//! level 0   base relation (entity source, or the latest snapshot for REFRESH TAG)
//!           LEFT JOIN each statistic scan (one or more tags' values by key) ON key
//! level 1.. SELECT *, <expression tags whose inputs are all below> FROM (previous level)
//! final     SELECT key, tag1, tag2, … ORDER BY key
//! ```
//!
//! Statistic tags over the same table and key are joined as one fused aggregation (see
//! [`fusion`]); a distinct count in such a scan becomes `unique_count`, whose flat state keeps
//! clear of DataFusion 55's distinct-aggregate memory growth (shared/PERFORMANCE.md).

pub mod fusion;
mod graph;

pub use fusion::{Scan, plan as plan_scans};
pub use graph::{cycle_error, find_cycle, levels};

use crate::catalog::TagDef;
use crate::parser::{Body, quote_ident};

/// Name of the key and value columns of a materialised statistic tag result.
pub const KEY_COLUMN: &str = "__tf_key";
pub const VALUE_COLUMN: &str = "__tf_value";

/// The column expression of a tag at its level: its definition with DEFAULT applied.
/// For a statistic tag, `joined` is the alias of its joined scan and the column of its value.
pub fn tag_expression(tag: &TagDef, joined: Option<(&str, &str)>) -> String {
    let value = match (tag.body(), joined) {
        (Body::Query(_), Some((alias, column))) => {
            format!("{}.{}", quote_ident(alias), quote_ident(column))
        }
        (Body::Query(_), None) => quote_ident(VALUE_COLUMN),
        (Body::Expression(e), _) => format!("({e})"),
    };
    match &tag.default_value {
        Some(d) => format!("coalesce({value}, ({d}))"),
        None => value,
    }
}

/// A statistic scan joined by key: a registered table or a parenthesised query with the key in
/// `__tf_key`, and the tags whose values it holds with their columns.
pub struct Joined<'a> {
    pub relation: String,
    pub columns: Vec<(&'a TagDef, String)>,
}

impl<'a> Joined<'a> {
    /// A computed tag result registered as `table` (key and value columns).
    pub fn table(tag: &'a TagDef, table: &str) -> Self {
        Joined {
            relation: quote_ident(table),
            columns: vec![(tag, VALUE_COLUMN.to_string())],
        }
    }

    /// A scan that streams into the join as a subquery.
    pub fn query(sql: &str, columns: Vec<(&'a TagDef, String)>) -> Self {
        Joined {
            relation: format!("({sql})"),
            columns,
        }
    }
}

/// Builds the profile query.
///
/// - `base` is a relation (table name or parenthesised query) with the key column and every
///   column expression tags may read (source columns, and kept tag values for REFRESH TAG);
/// - `joined` are statistic tags to left-join by key;
/// - `levels` are expression tags grouped so each only reads columns of earlier levels;
/// - `output` is the final column list after the key.
pub fn profile_query(
    key: &str,
    base: &str,
    joined: &[Joined<'_>],
    levels: &[Vec<&TagDef>],
    output: &[String],
) -> String {
    let k = quote_ident(key);
    let mut select = vec!["__tf_base.*".to_string()];
    let mut from = format!("{base} AS __tf_base");
    for (i, j) in joined.iter().enumerate() {
        let alias = format!("__tf_s{i}");
        for (tag, column) in &j.columns {
            select.push(format!(
                "{} AS {}",
                tag_expression(tag, Some((&alias, column))),
                quote_ident(&tag.name)
            ));
        }
        from.push_str(&format!(
            "\n  LEFT JOIN {} AS {alias} ON __tf_base.{k} = {alias}.{}",
            j.relation,
            quote_ident(KEY_COLUMN)
        ));
    }
    let mut sql = format!("SELECT {}\n  FROM {from}", select.join(",\n    "));
    for (n, level) in levels.iter().enumerate() {
        let columns: Vec<String> = level
            .iter()
            .map(|t| format!("{} AS {}", tag_expression(t, None), quote_ident(&t.name)))
            .collect();
        sql = format!(
            "SELECT *,\n    {}\n  FROM ({sql}) AS __tf_l{n}",
            columns.join(",\n    ")
        );
    }
    let mut columns = vec![k.clone()];
    columns.extend(output.iter().map(|c| quote_ident(c)));
    format!(
        "SELECT {}\nFROM ({sql}) AS __tf_profile",
        columns.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DefinitionKind, testing};
    use crate::parser::TagKind;

    pub(crate) fn tag(name: &str, body: Body, default: Option<&str>, deps: &[&str]) -> TagDef {
        let (definition_kind, definition) = match body {
            Body::Expression(e) => (DefinitionKind::Expression, e),
            Body::Query(q) => (DefinitionKind::Query, q),
        };
        TagDef {
            kind: TagKind::Rule,
            default_value: default.map(str::to_string),
            definition_kind,
            definition,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..testing::tag("c", name)
        }
    }

    #[test]
    fn defaults_wrap_the_value() {
        let t = tag("n", Body::Query("SELECT 1, 2".into()), Some("0"), &[]);
        assert_eq!(
            tag_expression(&t, Some(("s", VALUE_COLUMN))),
            "coalesce(\"s\".\"__tf_value\", (0))"
        );
    }

    #[test]
    fn query_layers_levels_on_the_joined_base() {
        let s = tag("n", Body::Query("SELECT 1, 2".into()), None, &[]);
        let r = tag("big", Body::Expression("n > 1".into()), None, &["n"]);
        let sql = profile_query(
            "id",
            "src",
            &[Joined::table(&s, "t0")],
            &[vec![&r]],
            &["n".into(), "big".into()],
        );
        assert!(
            sql.contains("LEFT JOIN \"t0\" AS __tf_s0 ON __tf_base.\"id\" = __tf_s0.\"__tf_key\"")
        );
        assert!(sql.contains("(n > 1) AS \"big\""));
        assert!(sql.starts_with("SELECT \"id\", \"n\", \"big\""));
    }
}
