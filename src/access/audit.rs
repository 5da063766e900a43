//! `tagfusion.audit`: who looked up which persona or exported which segment's rows, and when.
//! A record is durable before the rows are handed out; records of concurrent requests share
//! one commit (group commit).

use std::future::Future;
use std::sync::Mutex as SyncMutex;

use chrono::Utc;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use tokio::sync::{Mutex, oneshot};

use crate::catalog::{AuditRecord, Catalog};
use crate::error::{Error, Result};

/// The user the CLI acts for: the OS user.
pub fn os_user() -> String {
    whoami::username()
}

/// A record waiting for a commit, and whom to tell how the commit went.
type Waiting = (
    AuditRecord,
    oneshot::Sender<std::result::Result<(), String>>,
);

/// The audit trail of one process: a group committer. Every append queues its record and
/// waits its turn to commit; whoever commits takes every record queued by then, so records that
/// arrive while a commit is running share the next one (48 concurrent persona lookups take two
/// or three commits, not 48). Each append returns only once the commit holding its record
/// succeeded, and fails if that commit failed: nothing is handed out unaudited.
#[derive(Debug, Default)]
pub struct AuditLog {
    queued: SyncMutex<Vec<Waiting>>,
    /// One commit at a time from this process: concurrent Delta appends to the same table
    /// conflict and, under load, exhaust their retries.
    committing: Mutex<()>,
}

impl AuditLog {
    /// Records one action of `user`: queued, then written by `write` (one commit of all the
    /// records given to it) together with any others waiting.
    pub async fn append<W, F>(
        &self,
        user: String,
        action: &str,
        object: &str,
        detail: Option<String>,
        write: W,
    ) -> Result<()>
    where
        W: FnOnce(Vec<AuditRecord>) -> F,
        F: Future<Output = Result<()>>,
    {
        let record = AuditRecord {
            at: Utc::now(),
            user,
            action: action.to_string(),
            object: object.to_string(),
            detail,
        };
        let (told, mut outcome) = oneshot::channel();
        self.queue().push((record, told));
        let _turn = self.committing.lock().await;
        // The commit before ours may have taken our record already.
        if let Ok(done) = outcome.try_recv() {
            return done.map_err(Error::invalid);
        }
        let batch = std::mem::take(&mut *self.queue());
        let (records, waiting): (Vec<AuditRecord>, Vec<_>) = batch.into_iter().unzip();
        let result = write(records).await.map_err(|e| e.to_string());
        for w in waiting {
            let _ = w.send(result.clone());
        }
        match outcome.try_recv() {
            Ok(done) => done.map_err(Error::invalid),
            Err(_) => Err(Error::invalid(
                "the audit record was not written: run the statement again",
            )),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        match self.queued.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// 20 appends at once against a sink whose first commit is slow: the other 19 share the
    /// next commit, every record is written exactly once, every append returns Ok.
    #[tokio::test]
    async fn appends_waiting_for_a_commit_share_the_next() {
        let log = Arc::new(AuditLog::default());
        let commits = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(SyncMutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (log, commits, written) = (log.clone(), commits.clone(), written.clone());
            tasks.push(tokio::spawn(async move {
                log.append(
                    format!("u{i}"),
                    "persona",
                    "customer",
                    None,
                    |records| async move {
                        if commits.fetch_add(1, Ordering::SeqCst) == 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        written
                            .lock()
                            .unwrap()
                            .extend(records.into_iter().map(|r| r.user));
                        Ok(())
                    },
                )
                .await
            }));
            if i == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(commits.load(Ordering::SeqCst), 2);
        let mut users = written.lock().unwrap().clone();
        users.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
        expected.sort();
        assert_eq!(users, expected);
    }

    /// A failed commit fails every append whose record it held.
    #[tokio::test]
    async fn a_failed_commit_fails_all_its_appends() {
        let log = Arc::new(AuditLog::default());
        let mut tasks = Vec::new();
        for i in 0..5 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                log.append(format!("u{i}"), "persona", "c", None, |_| async {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Err(Error::invalid("disk full"))
                })
                .await
            }));
        }
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert!(e.to_string().contains("disk full"), "{e}");
        }
    }
}
