//! SHOW ENTITIES, SHOW TAGS, DESCRIBE TAG, DESCRIBE ENTITY. The SHOW statements are queries
//! over the system tables, so what they print is what `SELECT … FROM tagfusion.tags` returns.

use crate::engine::output::{Cell, table};
use crate::engine::{Engine, Output};
use crate::error::Result;
use crate::parser::{QualifiedName, ShowTags, quote_ident, quote_str};

impl Engine {
    async fn sql_output(&self, sql: &str) -> Result<Output> {
        let df = self.ctx.sql(sql).await?;
        Ok(Output::from_stream(df.execute_stream().await?))
    }

    pub(in crate::engine) async fn show_entities(&self) -> Result<Output> {
        self.sql_output(
            "SELECT e.name AS entity, e.key, e.source, coalesce(t.tags, 0) AS tags, \
                    s.last_refresh, e.description \
             FROM tagfusion.entities e \
             LEFT JOIN (SELECT entity, count(*) AS tags FROM tagfusion.tags GROUP BY entity) t ON t.entity = e.name \
             LEFT JOIN (SELECT entity, max(snapshot_at) AS last_refresh FROM tagfusion.snapshots \
                        WHERE status = 'ok' GROUP BY entity) s ON s.entity = e.name \
             ORDER BY e.name",
        )
        .await
    }

    /// Every function with its kind, whether TagFusion or DataFusion ships it, syntax and
    /// description, from `information_schema.routines`.
    pub(in crate::engine) async fn show_functions(&self, like: Option<&str>) -> Result<Output> {
        let ours: Vec<String> = tagfusion_udfs::all_function_docs()
            .into_iter()
            .map(|(name, _)| name)
            .chain(
                crate::engine::segments::table_functions::NAMES
                    .iter()
                    .map(|(n, _)| n.to_string()),
            )
            .map(|n| quote_str(&n))
            .collect();
        let filter = like
            .map(|l| format!("WHERE routine_name LIKE {}", quote_str(l)))
            .unwrap_or_default();
        self.sql_output(&format!(
            "SELECT DISTINCT routine_name AS function_name, lower(function_type) AS kind, \
                    CASE WHEN routine_name IN ({}) THEN 'tagfusion' ELSE 'datafusion' END AS origin, \
                    syntax_example AS syntax, description \
             FROM information_schema.routines {filter} ORDER BY origin DESC, function_name",
            ours.join(", ")
        ))
        .await
    }

    pub(in crate::engine) async fn show_tags(&self, show: &ShowTags) -> Result<Output> {
        let mut filters = vec!["TRUE".to_string()];
        if let Some(entity) = &show.entity {
            self.catalog().entity(entity)?;
            filters.push(format!("entity = {}", quote_str(entity)));
        }
        if let Some(category) = &show.category {
            let c = category.trim().trim_matches('/');
            filters.push(format!(
                "(category = {c} OR category LIKE {prefix} OR '/' || category || '/' LIKE {inner})",
                c = quote_str(c),
                prefix = quote_str(&format!("{c}/%")),
                inner = quote_str(&format!("%/{c}/%")),
            ));
        }
        if let Some(like) = &show.like {
            filters.push(format!("name LIKE {}", quote_str(like)));
        }
        self.sql_output(&format!(
            "SELECT entity, name AS tag, kind, category, value_type, status, owner, description \
             FROM tagfusion.tags WHERE {} ORDER BY entity, position",
            filters.join(" AND ")
        ))
        .await
    }

    pub(in crate::engine) async fn describe_tag(&self, name: &QualifiedName) -> Result<Output> {
        let catalog = self.catalog();
        let tag = catalog.tag(name)?.clone();
        let used_by: Vec<String> = catalog
            .used_by(&name.entity, &name.name)
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let latest = catalog.latest_snapshot(&name.entity).cloned();

        let (coverage, distinct) = self.latest_coverage(name).await?;
        let (top_values, quantiles, drift) = self.latest_tag_stats(name).await?;
        let used_by_segments: Vec<String> = catalog
            .segments_of(&name.entity)
            .iter()
            .filter(|s| s.tags.contains(&name.name))
            .map(|s| s.name.clone())
            .collect();
        let ts = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        let rows: Vec<(&str, Option<String>)> = vec![
            ("name", Some(tag.qualified().to_string())),
            ("kind", Some(tag.kind.to_string())),
            ("category", tag.category.clone()),
            ("description", tag.description.clone()),
            ("owner", tag.owner.clone()),
            ("value_type", Some(tag.value_type.to_string())),
            ("sensitive", Some(tag.sensitive.to_string())),
            ("default", tag.default_value.clone()),
            ("status", Some(tag.status.to_string())),
            ("version", Some(tag.version.to_string())),
            ("definition", Some(tag.definition_as_written())),
            ("depends_on", Some(tag.depends_on.join(", "))),
            ("used_by", Some(used_by.join(", "))),
            ("used_by_segments", Some(used_by_segments.join(", "))),
            ("coverage", coverage),
            ("distinct_values", distinct),
            ("top_values", top_values),
            ("quantiles", quantiles),
            ("drift_psi", drift),
            ("last_refresh", latest.map(|s| ts(s.snapshot_at))),
        ];
        table(
            &["property", "value"],
            rows.into_iter()
                .map(|(k, v)| vec![Cell::from(k), Cell::from(v)])
                .collect(),
        )
    }

    /// Coverage (`99.50% (199 of 200)`) and distinct values of a tag in the latest snapshot,
    /// when the tag is in it.
    async fn latest_coverage(
        &self,
        name: &QualifiedName,
    ) -> Result<(Option<String>, Option<String>)> {
        let profile = format!("{}.profile", quote_ident(&name.entity));
        let Ok(df) = self.ctx.table(profile.as_str()).await else {
            return Ok((None, None));
        };
        if df.schema().field_with_unqualified_name(&name.name).is_err() {
            return Ok((None, None));
        }
        let col = quote_ident(&name.name);
        let batches = self
            .ctx
            .sql(&format!(
                "SELECT CAST(count(*) AS BIGINT), CAST(count({col}) AS BIGINT), \
                        CAST(count(DISTINCT {col}) AS BIGINT) FROM {profile}"
            ))
            .await?
            .collect()
            .await?;
        let Some(b) = batches.first().filter(|b| b.num_rows() == 1) else {
            return Ok((None, None));
        };
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        let count = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
        let (rows, filled, distinct) = (count(0), count(1), count(2));
        Ok((coverage_text(rows, filled), Some(distinct.to_string())))
    }

    pub(in crate::engine) async fn describe_entity(&self, name: &str) -> Result<Output> {
        let catalog = self.catalog();
        let entity = catalog.entity(name)?.clone();
        let latest = catalog.latest_snapshot(name).cloned();
        let rows: Vec<(&str, Option<String>)> = vec![
            ("name", Some(entity.name.clone())),
            ("key", Some(entity.key.clone())),
            ("source", Some(entity.source().as_relation())),
            ("description", entity.description.clone()),
            ("tags", Some(catalog.tags_of(name).len().to_string())),
            ("version", Some(entity.version.to_string())),
            (
                "last_refresh",
                latest
                    .as_ref()
                    .map(|s| s.snapshot_at.format("%Y-%m-%d %H:%M:%S").to_string()),
            ),
            ("rows", latest.map(|s| s.rows.to_string())),
        ];
        table(
            &["property", "value"],
            rows.into_iter()
                .map(|(k, v)| vec![Cell::from(k), Cell::from(v)])
                .collect(),
        )
    }

    /// `SHOW CATEGORIES [FOR entity]`: every node of the category tree (each prefix of a tag's
    /// path), its level, the tags directly in it and in its whole subtree.
    pub(in crate::engine) async fn show_categories(&self, entity: Option<&str>) -> Result<Output> {
        let catalog = self.catalog();
        if let Some(e) = entity {
            catalog.entity(e)?;
        }
        // (entity, path) -> (direct, subtree)
        let mut nodes: std::collections::BTreeMap<(String, String), (i64, i64)> =
            std::collections::BTreeMap::new();
        for (e, tags) in &catalog.tags {
            if entity.is_some_and(|x| x != e) {
                continue;
            }
            for t in tags {
                let path = t
                    .category
                    .clone()
                    .unwrap_or_else(|| "(uncategorised)".to_string());
                let parts: Vec<&str> = path.split('/').collect();
                for n in 1..=parts.len() {
                    let node = nodes.entry((e.clone(), parts[..n].join("/"))).or_default();
                    node.1 += 1;
                    if n == parts.len() {
                        node.0 += 1;
                    }
                }
            }
        }
        let rows = nodes
            .into_iter()
            .map(|((e, path), (direct, subtree))| {
                let level = path.split('/').count() as i64;
                vec![
                    Cell::from(e),
                    Cell::from(path),
                    Cell::from(level),
                    Cell::from(direct),
                    Cell::from(subtree),
                ]
            })
            .collect();
        table(
            &["entity", "category", "level", "tags", "tags_in_subtree"],
            rows,
        )
    }

    /// Top values, quantiles and PSI (with a verdict) from the tag's latest `tag_stats` row.
    async fn latest_tag_stats(
        &self,
        name: &QualifiedName,
    ) -> Result<(Option<String>, Option<String>, Option<String>)> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::Float64Type;
        let batches = self
            .ctx
            .sql(&format!(
                "SELECT CAST(top_values AS VARCHAR), CAST(quantiles AS VARCHAR), psi FROM tagfusion.tag_stats \
                 WHERE entity = {} AND tag = {} ORDER BY snapshot_at DESC LIMIT 1",
                quote_str(&name.entity),
                quote_str(&name.name)
            ))
            .await?
            .collect()
            .await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok((None, None, None));
        };
        let text = |i: usize| {
            let a = b.column(i).as_string::<i32>();
            (!a.is_null(0)).then(|| a.value(0).to_string())
        };
        let psi = b.column(2).as_primitive::<Float64Type>();
        let drift = (!psi.is_null(0)).then(|| {
            let v = psi.value(0);
            let verdict = if v < 0.1 {
                "stable"
            } else if v < 0.25 {
                "some drift"
            } else {
                "SHIFTED: check the source data"
            };
            format!("{v:.4} ({verdict})")
        });
        Ok((text(0), text(1), drift))
    }
}

/// `99.50% (199 of 200)`: `filled` of `rows` (none of no rows).
fn coverage_text(rows: i64, filled: i64) -> Option<String> {
    (rows > 0).then(|| {
        format!(
            "{:.2}% ({filled} of {rows})",
            filled as f64 * 100.0 / rows as f64
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_a_percentage_of_rows() {
        assert_eq!(
            coverage_text(200, 199).as_deref(),
            Some("99.50% (199 of 200)")
        );
        assert_eq!(coverage_text(0, 0), None);
    }
}
