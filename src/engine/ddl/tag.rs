//! CREATE, ALTER and DROP TAG, with every check done at definition time: unknown tables,
//! columns and tags (with "did you mean"), wrong tag query shapes, names that clash with source
//! columns, references to offline tags and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::LogicalPlan;

use super::{keyword_name, referenced_columns};
use crate::catalog::{Catalog, DefinitionKind, EntityDef, TagDef, TagVersion, ValueType, store};
use crate::compiler::{self, KEY_COLUMN, VALUE_COLUMN};
use crate::engine::scratch::Scratch;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{AlterTag, Body, CreateTag, QualifiedName, TagKind, TagStatus};
use crate::warehouse::delta_compatible;

/// What planning a tag definition found out.
pub(super) struct Checked {
    value_type: DataType,
    depends_on: Vec<String>,
    uses_window: bool,
}

impl Engine {
    pub(in crate::engine) async fn create_tag(&self, c: &CreateTag) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        let entity = catalog.entity(&c.name.entity)?.clone();
        let existing = catalog.find_tag(&c.name).cloned();
        if existing.is_some() && !c.or_replace {
            return Err(Error::invalid(format!(
                "tag {} already exists; use CREATE OR REPLACE TAG to change it",
                c.name
            )));
        }
        let tag_name = &c.name.name;
        if tag_name.eq_ignore_ascii_case(&entity.key)
            || tag_name == "snapshot_at"
            || tag_name.starts_with("__tf_")
        {
            return Err(Error::invalid(format!(
                "'{tag_name}' cannot name a tag of {}: it is reserved",
                entity.name
            )));
        }
        if !crate::parser::usable_as_column(tag_name) {
            return Err(keyword_name("tag", tag_name, &entity.name));
        }
        let source = self.source_schema(&entity.source()).await?;
        if let Some(col) = source
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(tag_name))
        {
            return Err(Error::invalid(format!(
                "tag {} has the name of a source column of entity {} ('{}'); a tag may not share a \
                 name with a source column: choose another name, e.g. '{}_tag'",
                c.name,
                entity.name,
                col.name(),
                tag_name
            )));
        }

        let mut draft = TagDef {
            entity: entity.name.clone(),
            name: tag_name.clone(),
            kind: c.kind.unwrap_or(TagKind::Attribute),
            value_type: ValueType::new(DataType::Null),
            category: c.category.clone().map(|p| normalize_category(&p)),
            description: c.description.clone(),
            owner: c.owner.clone(),
            sensitive: c.sensitive,
            default_value: c.default.clone(),
            definition_kind: if c.body.is_query() {
                DefinitionKind::Query
            } else {
                DefinitionKind::Expression
            },
            definition: c.body.text().to_string(),
            depends_on: Vec::new(),
            status: TagStatus::Draft,
            version: existing.as_ref().map(|t| t.version + 1).unwrap_or(1),
            position: existing
                .as_ref()
                .map(|t| t.position)
                .unwrap_or_else(|| catalog.next_position(&entity.name)),
            created_at: existing
                .as_ref()
                .map(|t| t.created_at)
                .unwrap_or_else(Utc::now),
            updated_at: Utc::now(),
        };
        let checked = self.check_tag(&catalog, &entity, &source, &draft).await?;
        draft.value_type = ValueType::new(delta_compatible(&checked.value_type));
        draft.depends_on = checked.depends_on;
        draft.kind = c.kind.unwrap_or(if c.body.is_query() {
            TagKind::Statistic
        } else if checked.uses_window {
            TagKind::Model
        } else if !draft.depends_on.is_empty() {
            TagKind::Rule
        } else {
            TagKind::Attribute
        });

        // Offline tags may not be used by new definitions.
        for dep in &draft.depends_on {
            if let Some(t) = catalog.find_tag(&QualifiedName {
                entity: entity.name.clone(),
                name: dep.clone(),
            }) && !t.is_active()
            {
                return Err(Error::invalid(format!(
                    "tag {}.{dep} is offline (下架) and cannot be used by new definitions; \
                         bring it back with ALTER TAG {}.{dep} SET STATUS approved",
                    entity.name, entity.name
                )));
            }
        }
        // A replaced definition must not close a cycle.
        let mut graph: BTreeMap<String, Vec<String>> = catalog
            .tags_of(&entity.name)
            .iter()
            .map(|t| (t.name.clone(), t.depends_on.clone()))
            .collect();
        graph.insert(draft.name.clone(), draft.depends_on.clone());
        if let Some(cycle) = compiler::find_cycle(&graph) {
            return Err(compiler::cycle_error(&entity.name, &cycle));
        }

        let version = TagVersion {
            tag: draft.clone(),
            author: self.acting_user(),
            change: if existing.is_some() {
                "replace"
            } else {
                "create"
            }
            .to_string(),
        };
        let tags = catalog.tags.entry(entity.name.clone()).or_default();
        match tags.iter_mut().find(|t| t.name == draft.name) {
            Some(slot) => *slot = draft,
            None => tags.push(draft),
        }
        store::save_tags(&self.warehouse, &catalog).await?;
        store::append_tag_version(&self.warehouse, &version).await?;
        self.commit_catalog(catalog, Some(&entity.name)).await?;
        Ok(Output::empty())
    }

    /// Plans a tag's definition against an empty relation with the entity's source columns and
    /// other tags, which finds unknown names and the value type without reading any data.
    pub(super) async fn check_tag(
        &self,
        catalog: &Catalog,
        entity: &EntityDef,
        source: &SchemaRef,
        tag: &TagDef,
    ) -> Result<Checked> {
        let others: Vec<&TagDef> = catalog
            .tags_of(&entity.name)
            .iter()
            .filter(|t| t.name != tag.name)
            .collect();
        let qualified = tag.qualified();
        let mut candidates: Vec<String> =
            source.fields().iter().map(|f| f.name().clone()).collect();
        candidates.extend(catalog.tags_of(&entity.name).iter().map(|t| t.name.clone()));
        let mut scratch = Scratch::new(&self.ctx);
        match tag.body() {
            Body::Expression(_) => {
                let mut fields: Vec<Field> = source
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                for t in &others {
                    fields.push(Field::new(&t.name, t.value_type.data_type().clone(), true));
                }
                let relation = scratch.register(Arc::new(Schema::new(fields)), Vec::new())?;
                let plan = self.plan_tag_value(tag, &relation, &candidates).await?;
                let value_type = plan.schema().field(0).data_type().clone();
                let names: BTreeSet<String> = others.iter().map(|t| t.name.clone()).collect();
                let mut depends_on: Vec<String> = referenced_columns(&plan)
                    .into_iter()
                    .filter(|c| names.contains(c))
                    .collect();
                if referenced_columns(&plan).contains(&tag.name)
                    && catalog.find_tag(&tag.qualified()).is_some()
                {
                    depends_on.push(tag.name.clone());
                }
                depends_on.sort_by_key(|d| others.iter().position(|t| &t.name == d));
                depends_on.dedup();
                Ok(Checked {
                    value_type,
                    depends_on,
                    uses_window: uses_window(&plan),
                })
            }
            Body::Query(q) => {
                let sql = format!("SELECT * FROM ({q}) AS __tf_q");
                let plan = self
                    .plan_definition(&sql, ("tag", &qualified), "tag or column", &candidates)
                    .await?;
                let fields = plan.schema().fields();
                if fields.len() != 2 {
                    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
                    return Err(Error::invalid(format!(
                        "the query of tag {} returns {} columns ({}); a tag query returns exactly \
                         two: the key, then the value",
                        tag.qualified(),
                        names.len(),
                        names.join(", ")
                    )));
                }
                let key_type = source
                    .field_with_name(&entity.key)
                    .map(|f| f.data_type().clone())
                    .unwrap_or(DataType::Utf8);
                let query_key = fields[0].data_type().clone();
                if !keys_comparable(&key_type, &query_key) {
                    return Err(Error::invalid(format!(
                        "the first column of tag {}'s query is {query_key}, but the key {} of entity {} is {key_type}; return the key first",
                        tag.qualified(),
                        entity.key,
                        entity.name
                    )));
                }
                let schema = Arc::new(Schema::new(vec![
                    Field::new(KEY_COLUMN, query_key, true),
                    Field::new(VALUE_COLUMN, fields[1].data_type().clone(), true),
                ]));
                let relation = scratch.register(schema, Vec::new())?;
                let plan = self.plan_tag_value(tag, &relation, &candidates).await?;
                Ok(Checked {
                    value_type: plan.schema().field(0).data_type().clone(),
                    depends_on: Vec::new(),
                    uses_window: false,
                })
            }
        }
    }

    /// Plans a tag's column expression (definition + DEFAULT) over `relation`.
    async fn plan_tag_value(
        &self,
        tag: &TagDef,
        relation: &str,
        candidates: &[String],
    ) -> Result<LogicalPlan> {
        let sql = format!(
            "SELECT {} AS v FROM {}",
            compiler::tag_expression(tag, None),
            crate::parser::quote_ident(relation)
        );
        self.plan_definition(&sql, ("tag", &tag.qualified()), "tag or column", candidates)
            .await
    }

    /// Plans a definition; unknown names become "did you mean" errors over `candidates`.
    pub(in crate::engine) async fn plan_definition(
        &self,
        sql: &str,
        object: (&str, &QualifiedName),
        unknown_what: &'static str,
        candidates: &[String],
    ) -> Result<LogicalPlan> {
        let (kind, name) = object;
        let state = self.ctx.state();
        state.create_logical_plan(sql).await.map_err(|e| {
            let text = e.strip_backtrace();
            if let Some(missing) = missing_field(&text) {
                return Error::Unknown {
                    what: unknown_what,
                    name: missing.clone(),
                    detail: format!(" in the definition of {kind} '{name}'"),
                    suggestion: crate::error::closest(
                        &missing,
                        candidates.iter().map(String::as_str),
                    ),
                };
            }
            match self.diagnose(e) {
                Error::DataFusion(e) => Error::invalid(format!(
                    "the definition of {kind} {name} does not plan: {}",
                    Error::DataFusion(e)
                )),
                other => other,
            }
        })
    }

    pub(in crate::engine) async fn alter_tag(
        &self,
        name: &QualifiedName,
        change: &AlterTag,
    ) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        catalog.tag(name)?;
        if let AlterTag::Status(TagStatus::Offline) = change {
            let users: Vec<String> = catalog
                .used_by(&name.entity, &name.name)
                .into_iter()
                .filter(|t| t.is_active())
                .map(|t| t.qualified().to_string())
                .collect();
            let users: Vec<String> = users
                .into_iter()
                .chain(
                    catalog
                        .segments_using_tags(&name.entity, &BTreeSet::from([name.name.clone()]))
                        .into_iter()
                        .map(|s| format!("segment {}", s.qualified())),
                )
                .collect();
            if !users.is_empty() {
                return Err(Error::invalid(format!(
                    "tag {name} cannot go offline while {} use it; take those offline or drop them first",
                    users.join(", ")
                )));
            }
        }
        let tags = catalog.tags.entry(name.entity.clone()).or_default();
        let mut version = None;
        if let Some(tag) = tags.iter_mut().find(|t| t.name == name.name) {
            let what = match change {
                AlterTag::Status(s) => {
                    tag.status = *s;
                    "status"
                }
                AlterTag::Category(c) => {
                    tag.category = Some(normalize_category(c));
                    "category"
                }
                AlterTag::Description(d) => {
                    tag.description = Some(d.clone());
                    "description"
                }
                AlterTag::Owner(o) => {
                    tag.owner = Some(o.clone());
                    "owner"
                }
            };
            tag.version += 1;
            tag.updated_at = Utc::now();
            version = Some(TagVersion {
                tag: tag.clone(),
                author: self.acting_user(),
                change: what.to_string(),
            });
        }
        store::save_tags(&self.warehouse, &catalog).await?;
        if let Some(version) = &version {
            store::append_tag_version(&self.warehouse, version).await?;
        }
        self.commit_catalog(catalog, Some(&name.entity)).await?;
        Ok(Output::empty())
    }

    pub(in crate::engine) async fn drop_tag(
        &self,
        name: &QualifiedName,
        cascade: bool,
    ) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        catalog.tag(name)?;
        let doomed = catalog.with_dependents(&name.entity, &name.name);
        let doomed_segments: BTreeSet<String> = catalog.segments_with_dependents(
            &name.entity,
            catalog
                .segments_using_tags(&name.entity, &doomed)
                .into_iter()
                .map(|s| s.name.clone())
                .collect(),
        );
        if (doomed.len() > 1 || !doomed_segments.is_empty()) && !cascade {
            let users: Vec<String> = doomed
                .iter()
                .filter(|d| **d != name.name)
                .map(|d| format!("{}.{d}", name.entity))
                .chain(
                    doomed_segments
                        .iter()
                        .map(|d| format!("segment {}.{d}", name.entity)),
                )
                .collect();
            return Err(Error::invalid(format!(
                "tag {name} is used by {}; drop those first or use DROP TAG {name} CASCADE",
                users.join(", ")
            )));
        }
        if !doomed_segments.is_empty() {
            if let Some(list) = catalog.segments.get_mut(&name.entity) {
                list.retain(|s| !doomed_segments.contains(&s.name));
            }
            store::save_segments(&self.warehouse, &catalog).await?;
            self.deregister_segments(&name.entity, &doomed_segments)?;
        }
        if let Some(tags) = catalog.tags.get_mut(&name.entity) {
            tags.retain(|t| !doomed.contains(&t.name));
        }
        store::save_tags(&self.warehouse, &catalog).await?;
        self.commit_catalog(catalog, Some(&name.entity)).await?;
        Ok(Output::empty())
    }
}

/// `行为 / 购买/` → `行为/购买`
fn normalize_category(path: &str) -> String {
    path.split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("No field named ").nth(1)?;
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    let token = token.trim_end_matches('.');
    let last = token.rsplit('.').next().unwrap_or(token).trim_matches('"');
    (!last.is_empty()).then(|| last.to_string())
}

fn keys_comparable(a: &DataType, b: &DataType) -> bool {
    let family = |t: &DataType| {
        if t.is_integer() {
            1
        } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
            2
        } else {
            0
        }
    };
    a == b || (family(a) != 0 && family(a) == family(b))
}

fn uses_window(plan: &LogicalPlan) -> bool {
    plan.exists(|node| Ok(matches!(node, LogicalPlan::Window(_))))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_paths_are_normalised() {
        assert_eq!(normalize_category(" 行为 / 购买/ "), "行为/购买");
    }

    #[test]
    fn missing_field_is_found_in_datafusion_messages() {
        assert_eq!(
            missing_field("Schema error: No field named ordrs_30d. Valid fields are a, b."),
            Some("ordrs_30d".into())
        );
        assert_eq!(
            missing_field("No field named \"__tf_x\".\"gendr\"."),
            Some("gendr".into())
        );
    }
}
