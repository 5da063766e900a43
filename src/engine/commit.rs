//! Committing a change to the catalog: the stored catalog was saved (one Delta commit per
//! table); the engine's copy and the session's tables follow it.

use std::sync::Arc;

use super::Engine;
use crate::catalog::Catalog;
use crate::error::Result;

impl Engine {
    /// Replaces the in-memory catalog after a successful save and refreshes what the session
    /// sees. Readers holding the previous snapshot finish with it; the next ones see this one.
    pub(super) async fn commit_catalog(
        &self,
        catalog: Catalog,
        entity: Option<&str>,
    ) -> Result<()> {
        let catalog = Arc::new(catalog);
        self.catalog.store(catalog.clone());
        self.register_system_tables().await?;
        if let Some(entity) = entity {
            self.register_entity_tables(&catalog, entity).await?;
        }
        Ok(())
    }
}
