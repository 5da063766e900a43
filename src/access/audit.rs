//! `tagfusion.audit`: who looked up which persona or exported which segment's rows, and when.
//! Each record is one append commit, written before the rows are handed out.

use chrono::Utc;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use tokio::sync::Mutex;

use crate::catalog::{AuditRecord, Catalog, store};
use crate::error::Result;
use crate::warehouse::Warehouse;

/// The user the CLI acts for: the OS user.
pub fn os_user() -> String {
    whoami::username()
}

/// The audit trail of one process.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// One append at a time from this process: concurrent Delta appends to the same table
    /// conflict and, under load (32 clients looking up personas), exhaust their retries.
    appending: Mutex<()>,
}

impl AuditLog {
    /// Appends one record to `tagfusion.audit` (one commit).
    pub async fn append(
        &self,
        warehouse: &Warehouse,
        user: String,
        action: &str,
        object: &str,
        detail: Option<String>,
    ) -> Result<()> {
        let _one_at_a_time = self.appending.lock().await;
        let record = AuditRecord {
            at: Utc::now(),
            user,
            action: action.to_string(),
            object: object.to_string(),
            detail,
        };
        store::append_audit(warehouse, &record).await
    }
}

/// Segments (`entity.segment`) whose rows a `COPY … TO` plan writes out.
pub fn exported_segments(plan: &LogicalPlan, catalog: &Catalog) -> Vec<String> {
    let LogicalPlan::Copy(_) = plan else {
        return Vec::new();
    };
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
