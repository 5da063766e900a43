//! Masking for viewers: sensitive tags, the source columns they are computed from, and
//! identity ids read masked; draft tags read as NULL where the server hides them. An analyzer
//! rule rewrites every table scan, so views, joins, subqueries and CTEs read the same masked scan.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, lit};
use datafusion::optimizer::AnalyzerRule;

use super::{Principal, Role};
use crate::catalog::Catalog;

/// What is sensitive, per entity: tag columns of its profile tables, and columns of its source
/// table that a sensitive tag is computed from.
#[derive(Debug, Default, Clone)]
pub struct SensitiveColumns {
    /// entity → sensitive tag names.
    tags: HashMap<String, BTreeSet<String>>,
    /// entity → draft tag names.
    drafts: HashMap<String, BTreeSet<String>>,
    /// source table name → sensitive source column names.
    sources: HashMap<String, BTreeSet<String>>,
    /// entity → segments that read a draft tag (directly or through other segments): their
    /// bitmaps show what hiding drafts hides.
    draft_segments: HashMap<String, BTreeSet<String>>,
}

impl SensitiveColumns {
    pub fn of(catalog: &Catalog) -> Self {
        let mut out = SensitiveColumns::default();
        for (entity, tags) in &catalog.tags {
            out.drafts.insert(
                entity.clone(),
                tags.iter()
                    .filter(|t| t.status == crate::parser::TagStatus::Draft)
                    .map(|t| t.name.clone())
                    .collect(),
            );
            out.draft_segments.insert(
                entity.clone(),
                segments_reading(catalog.segments_of(entity), &out.drafts[entity]),
            );
            let sensitive: Vec<_> = tags.iter().filter(|t| t.sensitive).collect();
            if sensitive.is_empty() {
                continue;
            }
            out.tags
                .entry(entity.clone())
                .or_default()
                .extend(sensitive.iter().map(|t| t.name.clone()));
            if let Some(def) = catalog.entities.get(entity)
                && def.source_kind == crate::catalog::SourceKind::Table
            {
                // Every identifier of a sensitive tag's definition that names a source column.
                let words = out
                    .sources
                    .entry(def.source.to_ascii_lowercase())
                    .or_default();
                for t in &sensitive {
                    words.extend(identifiers(&t.definition));
                }
                // The key identifies rows; it is never masked.
                words.remove(&def.key.to_ascii_lowercase());
                words.remove(&def.key);
            }
        }
        out
    }

    /// The columns of a scanned table to mask (masked text) and to hide (NULL).
    fn for_table(
        &self,
        table: &datafusion::common::TableReference,
        sensitive: bool,
        drafts: bool,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let name = table.table();
        let empty = BTreeSet::new();
        let profile = table
            .schema()
            .filter(|_| name == "profile" || name == "profile_history");
        // Identity graphs hold raw phones, e-mails and device ids.
        let identity = table.schema() == Some(crate::identity::IDENTITY_SCHEMA);
        let masked = match profile {
            Some(schema) if sensitive => self.tags.get(schema).unwrap_or(&empty).clone(),
            None if sensitive && identity => BTreeSet::from(["id".to_string()]),
            None if sensitive => self
                .sources
                .get(&name.to_ascii_lowercase())
                .unwrap_or(&empty)
                .clone(),
            _ => BTreeSet::new(),
        };
        let hidden = match profile {
            Some(schema) if drafts => self.drafts.get(schema).unwrap_or(&empty).clone(),
            _ => BTreeSet::new(),
        };
        (masked, hidden)
    }
}

/// The segments of `segments` that read any of `tags`, directly or through other segments.
pub fn segments_reading(
    segments: &[crate::catalog::SegmentDef],
    tags: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut reading: BTreeSet<String> = BTreeSet::new();
    loop {
        let more: Vec<String> = segments
            .iter()
            .filter(|s| !reading.contains(&s.name))
            .filter(|s| {
                s.tags.iter().any(|t| tags.contains(t))
                    || s.segments.iter().any(|d| reading.contains(d))
            })
            .map(|s| s.name.clone())
            .collect();
        if more.is_empty() {
            return reading;
        }
        reading.extend(more);
    }
}

/// For a scan of `<entity>.bitmaps` where drafts are hidden: a filter leaving out the rows of
/// draft tags and of segments reading them (`None` when there are none).
fn bitmap_rows_filter(
    sensitive: &SensitiveColumns,
    table: &datafusion::common::TableReference,
) -> Option<Expr> {
    if table.table() != "bitmaps" {
        return None;
    }
    let entity = table.schema()?;
    let names: Vec<Expr> = sensitive
        .drafts
        .get(entity)
        .into_iter()
        .chain(sensitive.draft_segments.get(entity))
        .flatten()
        .map(|n| lit(n.as_str()))
        .collect();
    if names.is_empty() {
        return None;
    }
    let name = Expr::Column(Column::new(Some(table.clone()), "name"));
    Some(name.clone().is_null().or(name.in_list(names, true)))
}

/// The identifiers of an expression's text (lower-cased), from the SQL tokenizer.
fn identifiers(text: &str) -> Vec<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(if w.quote_style.is_some() {
                w.value
            } else {
                w.value.to_ascii_lowercase()
            }),
            _ => None,
        })
        .collect()
}

/// The masked value of a column of type `t`: asterisks for text, NULL otherwise (and NULL
/// for hidden columns).
fn masked(t: &DataType, hidden: bool) -> Expr {
    match t {
        _ if hidden => lit(ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Expr::Cast(
            datafusion::logical_expr::Cast::new(Box::new(lit("******")), t.clone()),
        ),
        other => lit(ScalarValue::try_from(other).unwrap_or(ScalarValue::Null)),
    }
}

/// Analyzer rule: for a viewer, every scan of a profile or source table is wrapped in a
/// projection that replaces sensitive columns with masked values, under the same names.
#[derive(Debug)]
pub struct MaskSensitive {
    catalog: Arc<ArcSwap<Catalog>>,
    /// What is sensitive in the catalog snapshot it was computed from.
    cache: Mutex<(Arc<Catalog>, Arc<SensitiveColumns>)>,
}

impl MaskSensitive {
    /// Masks by the catalog the engine swaps new snapshots into.
    pub fn new(catalog: Arc<ArcSwap<Catalog>>) -> Self {
        let now = catalog.load_full();
        let sensitive = Arc::new(SensitiveColumns::of(&now));
        Self {
            catalog,
            cache: Mutex::new((now, sensitive)),
        }
    }

    /// The sensitive columns of the current catalog, computed again only when it changed.
    fn sensitive(&self) -> Arc<SensitiveColumns> {
        let now = self.catalog.load_full();
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !Arc::ptr_eq(&cache.0, &now) {
            let sensitive = Arc::new(SensitiveColumns::of(&now));
            *cache = (now, sensitive);
        }
        cache.1.clone()
    }
}

impl AnalyzerRule for MaskSensitive {
    fn name(&self) -> &str {
        "tagfusion_mask_sensitive"
    }

    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<LogicalPlan> {
        let Some(principal) = Principal::current() else {
            return Ok(plan);
        };
        let mask_sensitive = principal.role == Role::Viewer;
        let hide_drafts = principal.hide_drafts && principal.role != Role::Admin;
        if !mask_sensitive && !hide_drafts {
            return Ok(plan);
        }
        let sensitive = self.sensitive();
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            if hide_drafts && let Some(keep) = bitmap_rows_filter(&sensitive, &scan.table_name) {
                let filter = datafusion::logical_expr::Filter::try_new(keep, Arc::new(node))?;
                return Ok(Transformed::yes(LogicalPlan::Filter(filter)));
            }
            let (masked_columns, hidden) =
                sensitive.for_table(&scan.table_name, mask_sensitive, hide_drafts);
            let is = |set: &BTreeSet<String>, name: &str| {
                set.contains(name) || set.contains(&name.to_ascii_lowercase())
            };
            let schema = node.schema().clone();
            if !schema
                .fields()
                .iter()
                .any(|f| is(&masked_columns, f.name()) || is(&hidden, f.name()))
            {
                return Ok(Transformed::no(node));
            }
            let exprs: Vec<Expr> = schema
                .iter()
                .map(|(qualifier, field)| {
                    let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                    let hide = is(&hidden, field.name());
                    let value = if hide || is(&masked_columns, field.name()) {
                        masked(field.data_type(), hide)
                    } else {
                        column
                    };
                    value.alias_qualified(qualifier.cloned(), field.name())
                })
                .collect();
            let projection = Projection::try_new(exprs, Arc::new(node))?;
            Ok(Transformed::yes(LogicalPlan::Projection(projection)))
        })
        .map(|t| t.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{SegmentDef, testing};
    use crate::parser::TagStatus;
    use chrono::Utc;
    use datafusion::common::TableReference;

    fn segment(name: &str, tags: &[&str], segments: &[&str]) -> SegmentDef {
        SegmentDef {
            entity: "c".into(),
            name: name.into(),
            description: None,
            definition: "true".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            segments: segments.iter().map(|t| t.to_string()).collect(),
            version: 1,
            position: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn hidden_drafts_hide_their_bitmaps_and_those_of_segments_reading_them() {
        let catalog = Catalog {
            tags: [(
                "c".to_string(),
                vec![
                    testing::tag("c", "ok"),
                    crate::catalog::TagDef {
                        status: TagStatus::Draft,
                        ..testing::tag("c", "wip")
                    },
                ],
            )]
            .into(),
            segments: [(
                "c".to_string(),
                vec![
                    segment("plain", &["ok"], &[]),
                    segment("early", &["wip"], &[]),
                    segment("nested", &["ok"], &["early"]),
                ],
            )]
            .into(),
            ..Catalog::default()
        };
        let sensitive = SensitiveColumns::of(&catalog);
        let filter = bitmap_rows_filter(&sensitive, &TableReference::partial("c", "bitmaps"))
            .expect("a filter");
        assert_eq!(
            filter.to_string(),
            "c.bitmaps.name IS NULL OR c.bitmaps.name NOT IN ([Utf8(\"wip\"), Utf8(\"early\"), \
             Utf8(\"nested\")])"
        );
        assert!(bitmap_rows_filter(&sensitive, &TableReference::partial("c", "profile")).is_none());
        assert!(bitmap_rows_filter(&sensitive, &TableReference::partial("d", "bitmaps")).is_none());
    }
}
