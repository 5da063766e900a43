//! Picking up what other processes committed: a server keeps one engine open for days while
//! `tagfusion run` (cron, an admin's terminal) refreshes profiles and changes definitions in the
//! same warehouse. The catalog is Delta tables, so a change is a new table version.

use std::sync::Arc;

use super::Engine;
use crate::catalog::store;
use crate::error::Result;

/// The catalog tables whose versions tell whether another process changed something.
const WATCHED: [&str; 7] = [
    store::ENTITIES,
    store::TAGS,
    store::SEGMENTS,
    store::SOURCES,
    store::SNAPSHOTS,
    store::IDENTITY_GRAPHS,
    store::IDENTITY_REFRESHES,
];

impl Engine {
    /// The versions of the catalog tables now.
    async fn catalog_versions(&self) -> Result<Vec<Option<u64>>> {
        let mut versions = Vec::with_capacity(WATCHED.len());
        for path in WATCHED {
            let version = self.warehouse.table(path).await?.and_then(|t| t.version());
            versions.push(version);
        }
        Ok(versions)
    }

    /// Reloads the catalog and re-registers the profile and system tables when a catalog table
    /// has a version this engine has not seen. Returns whether it reloaded. Statements that
    /// write wait (and are waited for): the reload holds the write lock.
    pub async fn reload_if_changed(&self) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let versions = self.catalog_versions().await?;
        {
            let seen = self.seen_versions.lock().await;
            if *seen == versions {
                return Ok(false);
            }
        }
        let catalog = store::load(&self.warehouse, &self.ctx).await?;
        self.catalog.store(Arc::new(catalog));
        self.register_all_tables().await?;
        *self.seen_versions.lock().await = versions;
        Ok(true)
    }

    /// Records the current catalog versions as seen (after opening).
    pub(super) async fn mark_catalog_seen(&self) -> Result<()> {
        let versions = self.catalog_versions().await?;
        *self.seen_versions.lock().await = versions;
        Ok(())
    }
}
