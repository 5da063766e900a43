//! Tag usage: how often each tag is read, by what (queries, personas, segment questions) and
//! when last — so unused "zombie" tags can be found and taken offline. Reads are counted in
//! memory and appended to `tagfusion.tag_usage` by [`flush`] (the CLI flushes
//! once at the end of a run), so a query costs no extra commit.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;

use crate::catalog::{Catalog, TagUsage, store};
use crate::error::Result;
use crate::warehouse::Warehouse;

/// (entity, tag, via) → (reads, last read).
type Reads = BTreeMap<(String, String, &'static str), (i64, DateTime<Utc>)>;

/// Reads counted since the last flush.
#[derive(Debug, Default)]
pub struct UsageCounter {
    reads: Mutex<Reads>,
}

impl UsageCounter {
    pub fn record<'a>(
        &self,
        entity: &str,
        tags: impl IntoIterator<Item = &'a str>,
        via: &'static str,
    ) {
        let now = Utc::now();
        let Ok(mut reads) = self.reads.lock() else {
            return;
        };
        for tag in tags {
            let slot = reads
                .entry((entity.to_string(), tag.to_string(), via))
                .or_insert((0, now));
            slot.0 += 1;
            slot.1 = now;
        }
    }

    fn take(&self) -> Reads {
        self.reads
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// The tags an optimised plan reads: the profile columns it scans, as (entity, tag).
pub fn tags_read(optimized: &LogicalPlan, catalog: &Catalog) -> Vec<(String, String)> {
    let mut read: Vec<(String, String)> = Vec::new();
    let _ = optimized.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.table() == "profile_history"
            && let Some(entity) = scan.table_name.schema()
        {
            for field in scan.projected_schema.fields() {
                if catalog
                    .tags_of(entity)
                    .iter()
                    .any(|t| &t.name == field.name())
                {
                    read.push((entity.to_string(), field.name().clone()));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    read.sort();
    read.dedup();
    read
}

/// Appends the reads counted since the last flush to `tagfusion.tag_usage` (one commit);
/// `false` when there was nothing to write.
pub async fn flush(counter: &UsageCounter, warehouse: &Warehouse, user: &str) -> Result<bool> {
    let reads = counter.take();
    if reads.is_empty() {
        return Ok(false);
    }
    let now = Utc::now();
    let rows: Vec<TagUsage> = reads
        .into_iter()
        .map(|((entity, tag, via), (n, last))| TagUsage {
            entity,
            tag,
            via: via.to_string(),
            reads: n,
            last_read_at: last,
            user: user.to_string(),
            flushed_at: now,
        })
        .collect();
    store::append_tag_usage(warehouse, &rows).await?;
    Ok(true)
}
