//! What the engine records as it serves: the audit trail and tag usage (`crate::access` holds
//! the records' rules; this is where they meet the session's tables).

use datafusion::logical_expr::LogicalPlan;

use super::Engine;
use super::registry::SYSTEM_SCHEMA;
use crate::access::{self, audit, usage};
use crate::catalog::store;
use crate::error::Result;

impl Engine {
    /// The user acting now: the request's principal, else the engine's (OS) user.
    pub(super) fn acting_user(&self) -> String {
        access::acting_user(&self.user)
    }

    /// Appends one record to `tagfusion.audit` as the acting user (sharing a commit with
    /// concurrent records), and shows it to queries.
    pub(super) async fn audit(
        &self,
        action: &str,
        object: &str,
        detail: Option<String>,
    ) -> Result<()> {
        // The committer shows its batch to queries once, still holding the turn to commit, so
        // registrations never race.
        self.audit_log
            .append(
                self.acting_user(),
                action,
                object,
                detail,
                |records| async move {
                    store::append_audits(&self.warehouse, &records).await?;
                    self.show_audit().await
                },
            )
            .await
    }

    /// Registers `tagfusion.audit` at its latest version.
    async fn show_audit(&self) -> Result<()> {
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
        audit::exported_segments(plan, &self.catalog())
    }

    /// Counts the tags a query reads: the profile columns its optimised plan scans.
    pub(super) async fn record_query_usage(&self, plan: &LogicalPlan) {
        let Ok(optimized) = self.ctx.state().optimize(plan) else {
            return;
        };
        let read = usage::tags_read(&optimized, &self.catalog());
        for (entity, tag) in &read {
            self.usage.record(entity, [tag.as_str()], "query");
        }
    }

    /// Appends the reads counted since the last flush to `tagfusion.tag_usage` (one commit).
    pub async fn flush_usage(&self) -> Result<()> {
        if usage::flush(&self.usage, &self.warehouse, &self.acting_user()).await? {
            self.register_system_tables().await?;
        }
        Ok(())
    }
}
