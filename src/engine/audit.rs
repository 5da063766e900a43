//! `tagfusion.audit`: who looked up which persona or exported which segment's rows, and when.
//! Each record is one append commit, written before the rows are handed out.

use chrono::Utc;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;

use super::Engine;
use super::registry::SYSTEM_SCHEMA;
use crate::catalog::{AuditRecord, store};
use crate::error::Result;

/// The user the CLI acts for: the OS user.
pub fn os_user() -> String {
    whoami::username()
}

impl Engine {
    /// Appends one record to `tagfusion.audit` as the engine's user.
    pub(super) async fn audit(
        &self,
        action: &str,
        object: &str,
        detail: Option<String>,
    ) -> Result<()> {
        // One append at a time from this process: concurrent Delta appends to the same table
        // conflict and, under load (32 clients looking up personas), exhaust their retries.
        let _one_at_a_time = self.audit_lock.lock().await;
        let record = AuditRecord {
            at: Utc::now(),
            user: self.acting_user(),
            action: action.to_string(),
            object: object.to_string(),
            detail,
        };
        store::append_audit(&self.warehouse, &record).await?;
        let table = self
            .warehouse
            .ensure_table(store::AUDIT, &store::AUDIT_SCHEMA)
            .await?;
        let provider = self.warehouse.provider(&table).await?;
        let schema = self.schema(SYSTEM_SCHEMA)?;
        schema.deregister_table("audit")?;
        schema.register_table("audit".to_string(), provider)?;
        Ok(())
    }

    /// Segments (`entity.segment`) whose rows a `COPY … TO` plan writes out.
    pub(super) async fn exported_segments(&self, plan: &LogicalPlan) -> Vec<String> {
        let LogicalPlan::Copy(_) = plan else {
            return Vec::new();
        };
        let catalog = self.catalog.read().await;
        let mut found = Vec::new();
        let _ = plan.apply_with_subqueries(|node| {
            // A segment is a view: planning inlines it under an alias of its name.
            let name = match node {
                LogicalPlan::TableScan(scan) => Some(&scan.table_name),
                LogicalPlan::SubqueryAlias(alias) => Some(&alias.alias),
                _ => None,
            };
            if let Some(name) = name
                && let Some(schema) = name.schema()
                && catalog
                    .segments_of(schema)
                    .iter()
                    .any(|s| s.name == name.table())
            {
                let name = format!("{schema}.{}", name.table());
                if !found.contains(&name) {
                    found.push(name);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        found
    }
}
