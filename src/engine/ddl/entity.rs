//! CREATE and DROP ENTITY: an entity names a key over a source table or query.

use chrono::Utc;

use super::RESERVED;
use crate::catalog::{EntityDef, SourceKind, store};
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{CreateEntity, EntitySource};

impl Engine {
    pub(in crate::engine) async fn create_entity(&self, c: &CreateEntity) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        let existing = catalog.entities.get(&c.name).cloned();
        if existing.is_some() && !c.or_replace {
            return Err(Error::invalid(format!(
                "entity {} already exists; use CREATE OR REPLACE ENTITY to change it",
                c.name
            )));
        }
        if RESERVED.contains(&c.name.as_str())
            || c.name.contains(['/', '\\'])
            || c.name.starts_with('_')
        {
            return Err(Error::invalid(format!(
                "'{}' cannot name an entity (reserved, or contains '/'); choose another name",
                c.name
            )));
        }
        let schema = self.source_schema(&c.source).await?;
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if !columns.contains(&c.key.as_str()) {
            return Err(Error::Unknown {
                what: "key column",
                name: c.key.clone(),
                detail: format!(" in the source of entity '{}'", c.name),
                suggestion: crate::error::closest(&c.key, columns.iter().copied()),
            });
        }
        for tag in catalog.tags_of(&c.name) {
            if columns
                .iter()
                .any(|col| col.eq_ignore_ascii_case(&tag.name))
            {
                return Err(Error::invalid(format!(
                    "the new source of entity {} has a column '{}', which is also a tag; rename one of them",
                    c.name, tag.name
                )));
            }
        }
        let now = Utc::now();
        let (source_kind, source) = match &c.source {
            EntitySource::Table(t) => (SourceKind::Table, t.clone()),
            EntitySource::Query(q) => (SourceKind::Query, q.clone()),
        };
        let def = EntityDef {
            name: c.name.clone(),
            key: c.key.clone(),
            source_kind,
            source,
            description: c.description.clone(),
            version: existing.as_ref().map(|e| e.version + 1).unwrap_or(1),
            created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
            updated_at: now,
        };
        catalog.entities.insert(c.name.clone(), def.clone());
        // A replaced source must still serve every tag defined on it.
        for tag in catalog.tags_of(&c.name) {
            self.check_tag(&catalog, &def, &schema, tag).await.map_err(|e| {
                Error::invalid(format!(
                    "the new definition of entity {} breaks tag {}: {}; change or drop the tag first",
                    c.name,
                    tag.qualified(),
                    e.root()
                ))
            })?;
        }
        store::save_entities(&self.warehouse, &catalog).await?;
        self.commit_catalog(catalog, Some(&c.name)).await?;
        Ok(Output::empty())
    }

    pub(in crate::engine) async fn drop_entity(&self, name: &str, cascade: bool) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        catalog.entity(name)?;
        let tags = catalog.tags_of(name).len();
        let segments = catalog.segments_of(name).len();
        if tags + segments > 0 && !cascade {
            return Err(Error::invalid(format!(
                "entity {name} has {tags} tag(s) and {segments} segment(s); drop them first or use DROP ENTITY {name} CASCADE"
            )));
        }
        catalog.entities.remove(name);
        store::save_entities(&self.warehouse, &catalog).await?;
        catalog.tags.remove(name);
        store::save_tags(&self.warehouse, &catalog).await?;
        if catalog.segments.remove(name).is_some() {
            store::save_segments(&self.warehouse, &catalog).await?;
        }
        self.warehouse.remove(name).await?;
        self.deregister_entity(name)?;
        self.commit_catalog(catalog, None).await?;
        Ok(Output::empty())
    }
}
