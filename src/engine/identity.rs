//! Identity graph statements: CREATE / REFRESH / DROP / SHOW / DESCRIBE IDENTITY GRAPH, and the
//! `identity` schema: `identity.<graph>(id_type, id, one_id)`, `identity.<graph>_rejected`
//! (identifiers that broke a guard, with the reason) and `identity.<graph>_changes` (merges and
//! splits per refresh). The resolution itself is `crate::identity`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::util::display::ArrayFormatter;

use super::output::{Cell, table};
use super::{Engine, Output};
use crate::catalog::{GraphRefresh, IdentityGraphDef, RunStatus, store};
use crate::error::{Error, Result};
use crate::identity::{self, IDENTITY_SCHEMA, tables::*};
use crate::parser::{Block, CreateIdentityGraph, quote_str};
use crate::warehouse::WriteMode;

impl Engine {
    pub(super) async fn create_identity_graph(
        &self,
        c: &CreateIdentityGraph,
        text: &str,
    ) -> Result<Output> {
        check_graph_name(&c.name)?;
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        let existing = catalog.graphs.get(&c.name).cloned();
        if existing.is_some() && !c.or_replace {
            return Err(Error::invalid(format!(
                "identity graph {} already exists; use CREATE OR REPLACE IDENTITY GRAPH to change it",
                c.name
            )));
        }
        // Every source plans, has two or more columns, and the rules name its types.
        identity::source_types(&self.ctx, c, &|e| self.diagnose(e)).await?;
        // A BLOCK … MATCHING pattern must compile now, not at the first refresh.
        for block in &c.blocks {
            if let Block::Matching { pattern, .. } = block {
                let check = format!("SELECT regexp_like('', {})", quote_str(pattern));
                let compiled = match self.ctx.sql(&check).await {
                    Ok(df) => df.collect().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                compiled.map_err(|e| {
                    Error::invalid(format!("BLOCK … MATCHING '{pattern}': {}", Error::from(e)))
                })?;
            }
        }
        let now = Utc::now();
        let def = IdentityGraphDef {
            name: c.name.clone(),
            description: c.description.clone(),
            definition: text.trim().trim_end_matches(';').to_string(),
            version: existing.as_ref().map(|g| g.version + 1).unwrap_or(1),
            created_at: existing.as_ref().map(|g| g.created_at).unwrap_or(now),
            updated_at: now,
        };
        catalog.graphs.insert(c.name.clone(), def);
        store::save_graphs(&self.warehouse, &catalog).await?;
        self.commit_catalog(catalog, None).await?;
        Ok(Output::empty())
    }

    pub(super) async fn refresh_identity_graph(&self, name: &str) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let clock = Instant::now();
        let mut catalog = self.catalog_to_change();
        let def = catalog.graph(name)?.clone();
        let spec = spec_of(&def)?;
        let refreshed_at = Utc::now();
        let mut record = GraphRefresh {
            graph: name.to_string(),
            refreshed_at,
            version: def.version,
            status: RunStatus::Ok,
            ..Default::default()
        };
        let result = self.resolve_and_write(&spec, refreshed_at).await;
        record.seconds = clock.elapsed().as_secs_f64();
        let stats = match result {
            Ok(stats) => stats,
            Err(e) => {
                record.status = RunStatus::Failed;
                record.message = Some(e.to_string());
                // Best effort: the refresh's error is the one to report.
                let _ = store::append_graph_refresh(&self.warehouse, &record).await;
                let _ = self.register_system_tables().await;
                return Err(e);
            }
        };
        record.source_rows = stats
            .source_rows
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        record.identifiers = stats.identifiers;
        record.groups = stats.groups;
        record.largest_group = stats.largest_group;
        record.new_groups = stats.new_groups;
        record.merges = stats.merges;
        record.splits = stats.splits;
        record.rejected = stats.rejected;
        record.max_one_id = stats.max_one_id;
        store::append_graph_refresh(&self.warehouse, &record).await?;
        catalog.graph_refreshes.push(record.clone());
        self.commit_catalog(catalog, None).await?;
        self.register_identity_tables().await?;
        table(
            &[
                "graph",
                "identifiers",
                "groups",
                "largest_group",
                "new_groups",
                "merges",
                "splits",
                "rejected",
                "seconds",
            ],
            vec![vec![
                Cell::from(name.to_string()),
                Cell::Int(Some(record.identifiers)),
                Cell::Int(Some(record.groups)),
                Cell::Int(Some(record.largest_group)),
                Cell::Int(Some(record.new_groups)),
                Cell::Int(Some(record.merges)),
                Cell::Int(Some(record.splits)),
                Cell::Int(Some(record.rejected)),
                Cell::from(format!("{:.2}", record.seconds)),
            ]],
        )
    }

    /// Resolves the graph and commits its tables: the mapping first (the table readers use),
    /// then the rejected identifiers and the changes. A failure before the mapping's commit
    /// leaves the previous mapping in place.
    async fn resolve_and_write(
        &self,
        spec: &CreateIdentityGraph,
        refreshed_at: DateTime<Utc>,
    ) -> Result<identity::Stats> {
        let catalog = self.catalog();
        let previous = match self.warehouse.table(&mapping_path(&spec.name)).await? {
            Some(t) => Some(self.warehouse.provider(&t).await?),
            None => None,
        };
        let max_issued = catalog
            .last_graph_refresh(&spec.name)
            .map(|r| r.max_one_id)
            .unwrap_or(0);
        let resolution =
            identity::resolve(&self.ctx, spec, previous, max_issued, &|e| self.diagnose(e)).await?;
        let mapping = mapping_schema();
        self.warehouse
            .write_batches(
                &mapping_path(&spec.name),
                &mapping,
                conform(&mapping, resolution.mapping, |_| Vec::new())?,
                WriteMode::Overwrite,
            )
            .await?;
        let rejected = rejected_schema();
        self.warehouse
            .write_batches(
                &rejected_path(&spec.name),
                &rejected,
                conform(&rejected, resolution.rejected, |_| Vec::new())?,
                WriteMode::Overwrite,
            )
            .await?;
        let changes = changes_schema();
        let at = refreshed_at.timestamp_micros();
        let batches = conform(&changes, resolution.changes, |rows| {
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![at; rows]).with_timezone("UTC"))
                    as ArrayRef,
            ]
        })?;
        self.warehouse
            .write_batches(
                &changes_path(&spec.name),
                &changes,
                batches,
                WriteMode::Append,
            )
            .await?;
        Ok(resolution.stats)
    }

    pub(super) async fn drop_identity_graph(&self, name: &str) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        catalog.graph(name)?;
        catalog.graphs.remove(name);
        store::save_graphs(&self.warehouse, &catalog).await?;
        self.commit_catalog(catalog, None).await?;
        let schema = self.schema(IDENTITY_SCHEMA)?;
        for path in [mapping_path(name), rejected_path(name), changes_path(name)] {
            let table = path.trim_start_matches("identity/").to_string();
            schema.deregister_table(&table)?;
            self.warehouse.remove(&path).await?;
        }
        Ok(Output::empty())
    }

    pub(super) async fn show_identity_graphs(&self) -> Result<Output> {
        let catalog = self.catalog();
        let rows = catalog
            .graphs
            .values()
            .map(|g| {
                let last = catalog.last_graph_refresh(&g.name);
                let sources = spec_of(g).map(|s| s.sources.len() as i64).ok();
                vec![
                    Cell::from(g.name.clone()),
                    Cell::Int(sources),
                    Cell::Int(Some(g.version)),
                    Cell::from(
                        last.map(|r| r.refreshed_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                    ),
                    Cell::Int(last.map(|r| r.identifiers)),
                    Cell::Int(last.map(|r| r.groups)),
                    Cell::from(g.description.clone()),
                ]
            })
            .collect();
        table(
            &[
                "graph",
                "sources",
                "version",
                "last_refresh",
                "identifiers",
                "groups",
                "description",
            ],
            rows,
        )
    }

    /// The graph's definition, its rules and the last refresh's figures, one property a row.
    pub(super) async fn describe_identity_graph(&self, name: &str) -> Result<Output> {
        let catalog = self.catalog();
        let def = catalog.graph(name)?.clone();
        let spec = spec_of(&def)?;
        let last = catalog.last_graph_refresh(name).cloned();
        let mut rows = definition_properties(name, &def, &spec, last.as_ref());
        rows.extend(rule_properties(&spec));
        match &last {
            Some(r) => {
                rows.extend(refresh_properties(r));
                rows.extend(self.top_rejection_reasons(name).await);
            }
            None => rows.push(("last_refresh".into(), None)),
        }
        table(
            &["property", "value"],
            rows.into_iter()
                .map(|(k, v)| vec![Cell::from(k), Cell::from(v)])
                .collect(),
        )
    }

    /// The five most frequent reasons in graph `name`'s rejected table, with how many
    /// identifiers each rejected. Best effort: nothing when the table cannot be read.
    async fn top_rejection_reasons(&self, name: &str) -> Vec<Property> {
        let reasons = format!(
            "SELECT reason, count(*) AS n FROM {IDENTITY_SCHEMA}.{} GROUP BY reason \
             ORDER BY n DESC, reason LIMIT 5",
            crate::parser::quote_ident(&format!("{name}_rejected"))
        );
        let mut rows = Vec::new();
        if let Ok(df) = self.ctx.sql(&reasons).await
            && let Ok(batches) = df.collect().await
        {
            for batch in batches {
                let formatters: Vec<_> = batch
                    .columns()
                    .iter()
                    .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &Default::default()).ok())
                    .collect();
                for row in 0..batch.num_rows() {
                    if let [reason, n] = formatters.as_slice() {
                        rows.push((
                            "rejected because".into(),
                            Some(format!("{} ({})", reason.value(row), n.value(row))),
                        ));
                    }
                }
            }
        }
        rows
    }

    /// (Re-)registers the identity tables of every graph that has been refreshed.
    pub(super) async fn register_identity_tables(&self) -> Result<()> {
        let graphs: Vec<String> = self.catalog().graphs.keys().cloned().collect();
        if graphs.is_empty() {
            return Ok(());
        }
        let schema = self.schema(IDENTITY_SCHEMA)?;
        for graph in graphs {
            for path in [
                mapping_path(&graph),
                rejected_path(&graph),
                changes_path(&graph),
            ] {
                let name = path.trim_start_matches("identity/").to_string();
                if let Some(t) = self.warehouse.table(&path).await? {
                    let provider = self.warehouse.provider(&t).await?;
                    schema.deregister_table(&name)?;
                    schema.register_table(name, provider)?;
                }
            }
        }
        Ok(())
    }
}

/// A row of DESCRIBE IDENTITY GRAPH: the property and its value.
type Property = (String, Option<String>);

/// What graph `name` is: name, description, version, its table and its sources (with the rows
/// the `last` refresh read from each).
fn definition_properties(
    name: &str,
    def: &IdentityGraphDef,
    spec: &CreateIdentityGraph,
    last: Option<&GraphRefresh>,
) -> Vec<Property> {
    let mut rows: Vec<Property> = vec![
        ("name".into(), Some(def.name.clone())),
        ("description".into(), def.description.clone()),
        ("version".into(), Some(def.version.to_string())),
        ("table".into(), Some(format!("{IDENTITY_SCHEMA}.{name}"))),
    ];
    let counts: Vec<String> = last
        .map(|r| r.source_rows.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    for (i, source) in spec.sources.iter().enumerate() {
        let rows_read = counts
            .get(i)
            .map(|n| format!(" ({n} rows)"))
            .unwrap_or_default();
        rows.push((
            format!("source {}", i + 1),
            Some(format!("{source}{rows_read}")),
        ));
    }
    rows
}

/// The graph's rules as written: MAX GROUP SIZE (always shown), MAX PER GROUP, each BLOCK and
/// PRIORITY.
fn rule_properties(spec: &CreateIdentityGraph) -> Vec<Property> {
    let mut rows: Vec<Property> = vec![(
        "max_group_size".into(),
        spec.max_group_size.map(|n| n.to_string()),
    )];
    if !spec.max_per_type.is_empty() {
        rows.push((
            "max_per_group".into(),
            Some(
                spec.max_per_type
                    .iter()
                    .map(|(t, n)| format!("{t} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ));
    }
    for block in &spec.blocks {
        rows.push(("block".into(), Some(block_text(block))));
    }
    if !spec.priority.is_empty() {
        rows.push(("priority".into(), Some(spec.priority.join(", "))));
    }
    rows
}

/// A BLOCK rule as written, without the keyword.
fn block_text(block: &Block) -> String {
    match block {
        Block::Values { id_type, values } => format!("{id_type} IN ({})", values.join(", ")),
        Block::Matching { id_type, pattern } => format!("{id_type} MATCHING '{pattern}'"),
    }
}

/// The figures of refresh `r`: when it ran, identifiers, groups, and what changed.
fn refresh_properties(r: &GraphRefresh) -> Vec<Property> {
    let stat = |k: &str, v: i64| (k.to_string(), Some(v.to_string()));
    vec![
        (
            "last_refresh".into(),
            Some(r.refreshed_at.format("%Y-%m-%d %H:%M:%S").to_string()),
        ),
        stat("identifiers", r.identifiers),
        stat("groups", r.groups),
        stat("largest_group", r.largest_group),
        stat("new_groups", r.new_groups),
        stat("merges", r.merges),
        stat("splits", r.splits),
        stat("rejected", r.rejected),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CreateIdentityGraph {
        CreateIdentityGraph {
            or_replace: false,
            name: "people".into(),
            description: None,
            max_group_size: None,
            max_per_type: Vec::new(),
            blocks: Vec::new(),
            priority: Vec::new(),
            sources: vec!["SELECT a, b FROM t".into(), "SELECT b, c FROM u".into()],
        }
    }

    fn property(k: &str, v: &str) -> Property {
        (k.to_string(), Some(v.to_string()))
    }

    #[test]
    fn rules_are_shown_as_written_and_max_group_size_always() {
        let mut s = spec();
        assert_eq!(rule_properties(&s), [("max_group_size".to_string(), None)]);
        s.max_group_size = Some(50);
        s.max_per_type = vec![("phone".into(), 3), ("email".into(), 2)];
        s.blocks = vec![
            Block::Values {
                id_type: "phone".into(),
                values: vec!["000".into(), "123".into()],
            },
            Block::Matching {
                id_type: "email".into(),
                pattern: "^test@".into(),
            },
        ];
        s.priority = vec!["member".into(), "phone".into()];
        assert_eq!(
            rule_properties(&s),
            [
                property("max_group_size", "50"),
                property("max_per_group", "phone 3, email 2"),
                property("block", "phone IN (000, 123)"),
                property("block", "email MATCHING '^test@'"),
                property("priority", "member, phone"),
            ]
        );
    }

    #[test]
    fn sources_show_the_rows_the_last_refresh_read() {
        let now = Utc::now();
        let def = IdentityGraphDef {
            name: "people".into(),
            description: Some("customers".into()),
            definition: String::new(),
            version: 2,
            created_at: now,
            updated_at: now,
        };
        let before = definition_properties("people", &def, &spec(), None);
        assert_eq!(
            before,
            [
                property("name", "people"),
                property("description", "customers"),
                property("version", "2"),
                property("table", "identity.people"),
                property("source 1", "SELECT a, b FROM t"),
                property("source 2", "SELECT b, c FROM u"),
            ]
        );
        let last = GraphRefresh {
            source_rows: "10,20".into(),
            ..Default::default()
        };
        let after = definition_properties("people", &def, &spec(), Some(&last));
        assert_eq!(
            after[4],
            property("source 1", "SELECT a, b FROM t (10 rows)")
        );
        assert_eq!(
            after[5],
            property("source 2", "SELECT b, c FROM u (20 rows)")
        );
    }

    #[test]
    fn the_last_refresh_shows_when_and_its_figures() {
        let r = GraphRefresh {
            refreshed_at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
                .expect("a timestamp")
                .with_timezone(&Utc),
            identifiers: 9,
            groups: 4,
            largest_group: 3,
            new_groups: 1,
            merges: 2,
            splits: 0,
            rejected: 5,
            ..Default::default()
        };
        assert_eq!(
            refresh_properties(&r),
            [
                property("last_refresh", "2025-01-02 03:04:05"),
                property("identifiers", "9"),
                property("groups", "4"),
                property("largest_group", "3"),
                property("new_groups", "1"),
                property("merges", "2"),
                property("splits", "0"),
                property("rejected", "5"),
            ]
        );
    }
}
