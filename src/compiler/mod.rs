//! The tag compiler: turns an entity's tag definitions into one DataFusion query that yields
//! the profile (one row per key, one column per tag).
//!
//! Shape of the compiled query (see docs/architecture.md):
//!
//! ```text
//! level 0   base relation (entity source, or the latest snapshot for REFRESH TAG)
//!           LEFT JOIN each statistic tag's (key, value) result ON key
//! level 1.. SELECT *, <expression tags whose inputs are all below> FROM (previous level)
//! final     SELECT key, tag1, tag2, … ORDER BY key
//! ```
//!
//! Each statistic tag stays its own grouped query: mixing a distinct aggregate with other
//! aggregates over millions of groups makes DataFusion 55 use unbounded memory (see
//! shared/PERFORMANCE.md), so the compiler never fuses tag queries into one aggregation.

mod graph;

pub use graph::{cycle_error, find_cycle, levels};

use crate::catalog::TagDef;
use crate::parser::{Body, quote_ident};

/// Name of the key and value columns of a materialised statistic tag result.
pub const KEY_COLUMN: &str = "__tf_key";
pub const VALUE_COLUMN: &str = "__tf_value";

/// The column expression of a tag at its level: its definition with DEFAULT applied.
/// For a statistic tag, `joined` is the alias of its joined result.
pub fn tag_expression(tag: &TagDef, joined: Option<&str>) -> String {
    let value = match (tag.body(), joined) {
        (Body::Query(_), Some(alias)) => {
            format!("{}.{}", quote_ident(alias), quote_ident(VALUE_COLUMN))
        }
        (Body::Query(_), None) => quote_ident(VALUE_COLUMN),
        (Body::Expression(e), _) => format!("({e})"),
    };
    match &tag.default_value {
        Some(d) => format!("coalesce({value}, ({d}))"),
        None => value,
    }
}

/// A statistic tag's result, already computed and registered as a table.
pub struct Joined<'a> {
    pub tag: &'a TagDef,
    pub table: String,
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
        select.push(format!(
            "{} AS {}",
            tag_expression(j.tag, Some(&alias)),
            quote_ident(&j.tag.name)
        ));
        from.push_str(&format!(
            "\n  LEFT JOIN {} AS {alias} ON __tf_base.{k} = {alias}.{}",
            quote_ident(&j.table),
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
            tag_expression(&t, Some("s")),
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
            &[Joined {
                tag: &s,
                table: "t0".into(),
            }],
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
