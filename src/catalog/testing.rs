//! Definitions for unit tests: an entity and a tag with plain values, to be changed with struct
//! update syntax (`TagDef { status: TagStatus::Draft, ..testing::tag("c", "x") }`).

use chrono::Utc;
use datafusion::arrow::datatypes::DataType;

use super::{DefinitionKind, EntityDef, SourceKind, TagDef, ValueType};
use crate::parser::{TagKind, TagStatus};

/// Entity `name` keyed by `id` over the table `customers`.
pub(crate) fn entity(name: &str) -> EntityDef {
    EntityDef {
        name: name.into(),
        key: "id".into(),
        source_kind: SourceKind::Table,
        source: "customers".into(),
        description: None,
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// An approved attribute `entity.name` of type Int64, defined as `1`.
pub(crate) fn tag(entity: &str, name: &str) -> TagDef {
    TagDef {
        entity: entity.into(),
        name: name.into(),
        kind: TagKind::Attribute,
        value_type: ValueType::new(DataType::Int64),
        category: None,
        description: None,
        owner: None,
        sensitive: false,
        default_value: None,
        definition_kind: DefinitionKind::Expression,
        definition: "1".into(),
        depends_on: Vec::new(),
        status: TagStatus::Approved,
        version: 1,
        position: 0,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}
