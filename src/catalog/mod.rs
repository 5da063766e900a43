//! The catalog: entities, tags and persisted source tables, kept in the warehouse.
//!
//! The in-memory [`Catalog`] is the engine's view; [`store`] loads it from and saves it to Delta
//! tables under `_catalog/`, one commit per change, so a second process sees what the first
//! defined and a failed statement leaves the stored catalog as it was.

pub mod store;
#[cfg(test)]
pub(crate) mod testing;
mod types;

pub use types::{DefinitionKind, RunStatus, SourceKind, ValueType};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::parser::{Body, EntitySource, QualifiedName, TagKind, TagStatus};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntityDef {
    pub name: String,
    pub key: String,
    pub source_kind: SourceKind,
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EntityDef {
    pub fn source(&self) -> EntitySource {
        match self.source_kind {
            SourceKind::Query => EntitySource::Query(self.source.clone()),
            SourceKind::Table => EntitySource::Table(self.source.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagDef {
    pub entity: String,
    pub name: String,
    pub kind: TagKind,
    pub value_type: ValueType,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    pub sensitive: bool,
    #[serde(default)]
    pub default_value: Option<String>,
    pub definition_kind: DefinitionKind,
    pub definition: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub status: TagStatus,
    pub version: i64,
    /// Order of creation within the entity: the column order of the profile.
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TagDef {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName {
            entity: self.entity.clone(),
            name: self.name.clone(),
        }
    }
    pub fn body(&self) -> Body {
        match self.definition_kind {
            DefinitionKind::Query => Body::Query(self.definition.clone()),
            DefinitionKind::Expression => Body::Expression(self.definition.clone()),
        }
    }
    pub fn is_active(&self) -> bool {
        self.status != TagStatus::Offline
    }
    /// The definition as written after `AS`.
    pub fn definition_as_written(&self) -> String {
        self.body().as_written()
    }
}

/// One version of a tag (the rows of `tagfusion.tag_versions`): the whole definition as it
/// was after a CREATE [OR REPLACE] or ALTER, who made it and what changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagVersion {
    #[serde(flatten)]
    pub tag: TagDef,
    pub author: String,
    /// `create`, `replace`, `status`, `category`, `description` or `owner`.
    pub change: String,
}

/// Health of one tag in one snapshot (the rows of `tagfusion.tag_stats`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagStats {
    pub entity: String,
    pub tag: String,
    pub snapshot_at: DateTime<Utc>,
    pub rows: i64,
    pub non_null: i64,
    pub nulls: i64,
    /// non_null / rows.
    pub coverage: f64,
    /// Distinct values (HyperLogLog estimate; elements for list tags).
    #[serde(default)]
    pub distinct: Option<i64>,
    /// The most frequent values with their counts: `男: 5123, 女: 4877`.
    #[serde(default)]
    pub top_values: Option<String>,
    /// For numbers: `min, p25, median, p75, max`.
    #[serde(default)]
    pub quantiles: Option<String>,
    /// Population stability index against the previous snapshot (NULL for the first).
    #[serde(default)]
    pub psi: Option<f64>,
}

/// Reads of a tag counted between two flushes (the rows of `tagfusion.tag_usage`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagUsage {
    pub entity: String,
    pub tag: String,
    /// `query`, `persona` or `segment`.
    pub via: String,
    pub reads: i64,
    pub last_read_at: DateTime<Utc>,
    pub user: String,
    pub flushed_at: DateTime<Utc>,
}

/// A segment (客群): a boolean condition over an entity's tags and other segments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentDef {
    pub entity: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub definition: String,
    /// Tags the condition reads.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Other segments the condition reads.
    #[serde(default)]
    pub segments: Vec<String>,
    pub version: i64,
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SegmentDef {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName {
            entity: self.entity.clone(),
            name: self.name.clone(),
        }
    }
}

/// A table or view created with plain SQL that the warehouse remembers across sessions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceDef {
    pub name: String,
    pub sql: String,
    pub created_at: DateTime<Utc>,
}

/// An identity graph (the rows of `tagfusion.identity_graphs`): its whole CREATE statement, so
/// every version can be replayed from its sources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityGraphDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The `CREATE IDENTITY GRAPH` statement as written.
    pub definition: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One refresh of an identity graph (the rows of `tagfusion.identity_refreshes`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct GraphRefresh {
    pub graph: String,
    pub refreshed_at: DateTime<Utc>,
    /// The graph's definition version the refresh ran.
    pub version: i64,
    /// Rows read per source, comma separated in source order.
    pub source_rows: String,
    /// Identifiers in the result (linked into groups).
    pub identifiers: i64,
    pub groups: i64,
    pub largest_group: i64,
    pub new_groups: i64,
    /// Groups that absorbed others (their one_id survived).
    pub merges: i64,
    /// Groups that split off an older group (they got a new one_id).
    pub splits: i64,
    /// Identifiers that broke a guard and link nothing.
    pub rejected: i64,
    /// The largest one_id ever issued (one_ids are never reused).
    pub max_one_id: i64,
    pub seconds: f64,
    pub status: RunStatus,
    #[serde(default)]
    pub message: Option<String>,
    /// The version of `profile_history` that holds this snapshot: readers of `profile` read
    /// that version, so a profile commit no record names yet (a refresh that died after it)
    /// is never seen. `None` in records written before versions were kept: the latest.
    #[serde(default)]
    pub profile_version: Option<i64>,
    /// The version of `<entity>/keys` with an id for every key of this snapshot.
    #[serde(default)]
    pub keys_version: Option<i64>,
    /// The version of `<entity>/bitmaps` with this snapshot's bitmaps.
    #[serde(default)]
    pub bitmaps_version: Option<i64>,
}

/// One refresh of an entity (the rows of `tagfusion.snapshots`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotRecord {
    pub entity: String,
    pub snapshot_at: DateTime<Utc>,
    pub operation: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub rows: i64,
    pub tags: i64,
    pub status: RunStatus,
    #[serde(default)]
    pub message: Option<String>,
    /// The version of `profile_history` that holds this snapshot: readers of `profile` read
    /// that version, so a profile commit no record names yet (a refresh that died after it)
    /// is never seen. `None` in records written before versions were kept: the latest.
    #[serde(default)]
    pub profile_version: Option<i64>,
    /// The version of `<entity>/keys` with an id for every key of this snapshot.
    #[serde(default)]
    pub keys_version: Option<i64>,
    /// The version of `<entity>/bitmaps` with this snapshot's bitmaps.
    #[serde(default)]
    pub bitmaps_version: Option<i64>,
}

/// One audited action (the rows of `tagfusion.audit`): a persona lookup or an export of
/// segment rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// Who: the OS user for the CLI, the signed-in user for the server.
    pub user: String,
    /// `persona` or `export`.
    pub action: String,
    /// The entity or segment, e.g. `customer` or `customer.vip`.
    pub object: String,
    /// The key looked up, or where the rows went.
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub entities: BTreeMap<String, EntityDef>,
    /// Tags of each entity in profile column order.
    pub tags: BTreeMap<String, Vec<TagDef>>,
    /// Segments of each entity in creation order.
    pub segments: BTreeMap<String, Vec<SegmentDef>>,
    pub sources: Vec<SourceDef>,
    pub snapshots: Vec<SnapshotRecord>,
    /// Identity graphs by name.
    pub graphs: BTreeMap<String, IdentityGraphDef>,
    /// Every refresh of an identity graph, oldest first.
    pub graph_refreshes: Vec<GraphRefresh>,
}

impl Catalog {
    pub fn graph(&self, name: &str) -> Result<&IdentityGraphDef> {
        self.graphs.get(name).ok_or_else(|| {
            Error::unknown(
                "identity graph",
                name,
                self.graphs.keys().map(String::as_str),
            )
        })
    }

    /// The last successful refresh of a graph.
    /// The last successful refresh of a graph (refreshes of an earlier, dropped graph of the
    /// same name do not count).
    pub fn last_graph_refresh(&self, graph: &str) -> Option<&GraphRefresh> {
        let created = self.graphs.get(graph)?.created_at;
        self.graph_refreshes
            .iter()
            .rev()
            .find(|r| r.graph == graph && r.status == RunStatus::Ok && r.refreshed_at >= created)
    }

    pub fn entity(&self, name: &str) -> Result<&EntityDef> {
        self.entities
            .get(name)
            .ok_or_else(|| Error::unknown("entity", name, self.entities.keys().map(String::as_str)))
    }

    pub fn tags_of(&self, entity: &str) -> &[TagDef] {
        self.tags.get(entity).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn find_tag(&self, name: &QualifiedName) -> Option<&TagDef> {
        self.tags_of(&name.entity)
            .iter()
            .find(|t| t.name == name.name)
    }

    pub fn tag(&self, name: &QualifiedName) -> Result<&TagDef> {
        self.entity(&name.entity)?;
        self.find_tag(name).ok_or_else(|| {
            let names: Vec<String> = self
                .tags_of(&name.entity)
                .iter()
                .map(|t| format!("{}.{}", t.entity, t.name))
                .collect();
            Error::unknown("tag", &name.to_string(), names.iter().map(String::as_str))
        })
    }

    pub fn segments_of(&self, entity: &str) -> &[SegmentDef] {
        self.segments.get(entity).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn find_segment(&self, name: &QualifiedName) -> Option<&SegmentDef> {
        self.segments_of(&name.entity)
            .iter()
            .find(|s| s.name == name.name)
    }

    pub fn segment(&self, name: &QualifiedName) -> Result<&SegmentDef> {
        self.entity(&name.entity)?;
        self.find_segment(name).ok_or_else(|| {
            let names: Vec<String> = self
                .segments_of(&name.entity)
                .iter()
                .map(|s| s.qualified().to_string())
                .collect();
            Error::unknown(
                "segment",
                &name.to_string(),
                names.iter().map(String::as_str),
            )
        })
    }

    /// Segments of `entity` that read any of `tags`.
    pub fn segments_using_tags(&self, entity: &str, tags: &BTreeSet<String>) -> Vec<&SegmentDef> {
        self.segments_of(entity)
            .iter()
            .filter(|s| s.tags.iter().any(|t| tags.contains(t)))
            .collect()
    }

    /// `segments` and every segment that reads them, transitively.
    pub fn segments_with_dependents(
        &self,
        entity: &str,
        segments: BTreeSet<String>,
    ) -> BTreeSet<String> {
        let mut out = segments;
        loop {
            let more: Vec<String> = self
                .segments_of(entity)
                .iter()
                .filter(|s| !out.contains(&s.name) && s.segments.iter().any(|d| out.contains(d)))
                .map(|s| s.name.clone())
                .collect();
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    }

    /// Tags of `entity` that use `tag` directly.
    pub fn used_by(&self, entity: &str, tag: &str) -> Vec<&TagDef> {
        self.tags_of(entity)
            .iter()
            .filter(|t| t.depends_on.iter().any(|d| d == tag))
            .collect()
    }

    /// `tag` and every tag that depends on it, transitively.
    pub fn with_dependents(&self, entity: &str, tag: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([tag.to_string()]);
        let mut frontier = vec![tag.to_string()];
        while let Some(t) = frontier.pop() {
            for user in self.used_by(entity, &t) {
                if out.insert(user.name.clone()) {
                    frontier.push(user.name.clone());
                }
            }
        }
        out
    }

    /// The latest successful snapshot of an entity.
    pub fn latest_snapshot(&self, entity: &str) -> Option<&SnapshotRecord> {
        self.snapshots
            .iter()
            .filter(|s| s.entity == entity && s.status == RunStatus::Ok)
            .max_by_key(|s| (s.snapshot_at, s.finished))
    }

    pub fn next_position(&self, entity: &str) -> i64 {
        self.tags_of(entity)
            .iter()
            .map(|t| t.position + 1)
            .max()
            .unwrap_or(0)
    }
}
