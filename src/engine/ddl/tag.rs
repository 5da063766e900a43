//! CREATE, ALTER and DROP TAG, with every check done at definition time: unknown tables,
//! columns and tags (with "did you mean"), wrong tag query shapes, names that clash with source
//! columns, references to offline tags and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
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
        let catalog = self.catalog_to_change();
        let entity = catalog.entity(&c.name.entity)?.clone();
        let existing = catalog.find_tag(&c.name).cloned();
        check_new_tag_name(c, &entity, existing.is_some())?;
        let source = self.source_schema(&entity.source()).await?;
        check_not_a_source_column(c, &entity, &source)?;

        let position = catalog.next_position(&entity.name);
        let mut draft = draft_tag(c, &entity, existing.as_ref(), position, Utc::now());
        let checked = self.check_tag(&catalog, &entity, &source, &draft).await?;
        draft.value_type = ValueType::new(delta_compatible(&checked.value_type));
        draft.depends_on = checked.depends_on;
        draft.kind = c.kind.unwrap_or_else(|| {
            inferred_kind(c.body.is_query(), checked.uses_window, &draft.depends_on)
        });
        check_dependencies_online(&catalog, &entity, &draft.depends_on)?;
        check_no_tag_cycle(&catalog, &draft)?;
        self.save_tag(catalog, draft, existing.is_some()).await?;
        Ok(Output::empty())
    }

    /// Puts `tag` into the catalog (in place of its earlier version, if any), saves it with a
    /// new row in `tagfusion.tag_versions` and commits the catalog.
    async fn save_tag(&self, mut catalog: Catalog, tag: TagDef, replaced: bool) -> Result<()> {
        let entity = tag.entity.clone();
        let version = TagVersion {
            tag: tag.clone(),
            author: self.acting_user(),
            change: if replaced { "replace" } else { "create" }.to_string(),
        };
        let tags = catalog.tags.entry(entity.clone()).or_default();
        match tags.iter_mut().find(|t| t.name == tag.name) {
            Some(slot) => *slot = tag,
            None => tags.push(tag),
        }
        store::save_tags(&self.warehouse, &catalog).await?;
        store::append_tag_version(&self.warehouse, &version).await?;
        self.commit_catalog(catalog, Some(&entity)).await
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
        let mut candidates: Vec<String> =
            source.fields().iter().map(|f| f.name().clone()).collect();
        candidates.extend(catalog.tags_of(&entity.name).iter().map(|t| t.name.clone()));
        match tag.body() {
            Body::Expression(_) => {
                self.check_expression_tag(catalog, entity, source, tag, &candidates)
                    .await
            }
            Body::Query(q) => {
                self.check_query_tag(entity, source, tag, &q, &candidates)
                    .await
            }
        }
    }

    /// [`Self::check_tag`] of an expression over the entity's row and its other tags.
    async fn check_expression_tag(
        &self,
        catalog: &Catalog,
        entity: &EntityDef,
        source: &SchemaRef,
        tag: &TagDef,
        candidates: &[String],
    ) -> Result<Checked> {
        let others: Vec<&TagDef> = catalog
            .tags_of(&entity.name)
            .iter()
            .filter(|t| t.name != tag.name)
            .collect();
        let mut scratch = Scratch::new(&self.ctx);
        let relation = scratch.register(expression_schema(source, &others), Vec::new())?;
        let plan = self.plan_tag_value(tag, &relation, candidates).await?;
        let reads_itself = catalog.find_tag(&tag.qualified()).is_some();
        Ok(Checked {
            value_type: plan.schema().field(0).data_type().clone(),
            depends_on: expression_dependencies(
                &referenced_columns(&plan),
                &others,
                tag,
                reads_itself,
            ),
            uses_window: uses_window(&plan),
        })
    }

    /// [`Self::check_tag`] of a `(key, value)` query: it must return two columns, the first
    /// comparable with the entity's key.
    async fn check_query_tag(
        &self,
        entity: &EntityDef,
        source: &SchemaRef,
        tag: &TagDef,
        query: &str,
        candidates: &[String],
    ) -> Result<Checked> {
        let sql = format!("SELECT * FROM ({query}) AS __tf_q");
        let plan = self
            .plan_definition(&sql, ("tag", &tag.qualified()), "tag or column", candidates)
            .await?;
        let schema = query_tag_schema(entity, source, tag, plan.schema().fields())?;
        let mut scratch = Scratch::new(&self.ctx);
        let relation = scratch.register(schema, Vec::new())?;
        let plan = self.plan_tag_value(tag, &relation, candidates).await?;
        Ok(Checked {
            value_type: plan.schema().field(0).data_type().clone(),
            depends_on: Vec::new(),
            uses_window: false,
        })
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

/// The checks on a new tag's name that need no data: not taken (unless replacing), not
/// reserved, usable as a column.
fn check_new_tag_name(c: &CreateTag, entity: &EntityDef, exists: bool) -> Result<()> {
    if exists && !c.or_replace {
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
    Ok(())
}

/// A tag may not share its name with a column of the entity's source.
fn check_not_a_source_column(c: &CreateTag, entity: &EntityDef, source: &Schema) -> Result<()> {
    let tag_name = &c.name.name;
    match source
        .fields()
        .iter()
        .find(|f| f.name().eq_ignore_ascii_case(tag_name))
    {
        Some(col) => Err(Error::invalid(format!(
            "tag {} has the name of a source column of entity {} ('{}'); a tag may not share a \
             name with a source column: choose another name, e.g. '{}_tag'",
            c.name,
            entity.name,
            col.name(),
            tag_name
        ))),
        None => Ok(()),
    }
}

/// The definition a CREATE TAG describes, before planning: no value type or dependencies yet.
/// A replaced tag keeps its position and creation time and goes up one version; a new one
/// takes `position`.
fn draft_tag(
    c: &CreateTag,
    entity: &EntityDef,
    existing: Option<&TagDef>,
    position: i64,
    now: DateTime<Utc>,
) -> TagDef {
    TagDef {
        entity: entity.name.clone(),
        name: c.name.name.clone(),
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
        version: existing.map(|t| t.version + 1).unwrap_or(1),
        position: existing.map(|t| t.position).unwrap_or(position),
        created_at: existing.map(|t| t.created_at).unwrap_or(now),
        updated_at: now,
    }
}

/// The kind of a tag created without one: a query computes a statistic, a window function
/// makes a model, reading other tags a rule, anything else is an attribute.
fn inferred_kind(is_query: bool, uses_window: bool, depends_on: &[String]) -> TagKind {
    if is_query {
        TagKind::Statistic
    } else if uses_window {
        TagKind::Model
    } else if !depends_on.is_empty() {
        TagKind::Rule
    } else {
        TagKind::Attribute
    }
}

/// Offline tags may not be used by new definitions.
fn check_dependencies_online(
    catalog: &Catalog,
    entity: &EntityDef,
    depends_on: &[String],
) -> Result<()> {
    for dep in depends_on {
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
    Ok(())
}

/// A new or replaced definition must not close a cycle among the entity's tags.
fn check_no_tag_cycle(catalog: &Catalog, tag: &TagDef) -> Result<()> {
    let mut graph: BTreeMap<String, Vec<String>> = catalog
        .tags_of(&tag.entity)
        .iter()
        .map(|t| (t.name.clone(), t.depends_on.clone()))
        .collect();
    graph.insert(tag.name.clone(), tag.depends_on.clone());
    match compiler::find_cycle(&graph) {
        Some(cycle) => Err(compiler::cycle_error(&tag.entity, &cycle)),
        None => Ok(()),
    }
}

/// The row an expression tag is planned over: the source columns and the `others` tags, all
/// nullable.
fn expression_schema(source: &Schema, others: &[&TagDef]) -> SchemaRef {
    let mut fields: Vec<Field> = source
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    for t in others {
        fields.push(Field::new(&t.name, t.value_type.data_type().clone(), true));
    }
    Arc::new(Schema::new(fields))
}

/// The tags among `others` an expression reads (its plan reads the columns `read`), in profile
/// order; the tag itself first when it reads itself and `exists` (a replaced definition).
fn expression_dependencies(
    read: &BTreeSet<String>,
    others: &[&TagDef],
    tag: &TagDef,
    exists: bool,
) -> Vec<String> {
    let names: BTreeSet<&str> = others.iter().map(|t| t.name.as_str()).collect();
    let mut depends_on: Vec<String> = read
        .iter()
        .filter(|c| names.contains(c.as_str()))
        .cloned()
        .collect();
    if read.contains(&tag.name) && exists {
        depends_on.push(tag.name.clone());
    }
    depends_on.sort_by_key(|d| others.iter().position(|t| &t.name == d));
    depends_on.dedup();
    depends_on
}

/// The relation a tag query's value is planned over (key, value), given the query's output
/// `fields`: exactly two, the first comparable with the entity's key.
fn query_tag_schema(
    entity: &EntityDef,
    source: &Schema,
    tag: &TagDef,
    fields: &Fields,
) -> Result<SchemaRef> {
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
    Ok(Arc::new(Schema::new(vec![
        Field::new(KEY_COLUMN, query_key, true),
        Field::new(VALUE_COLUMN, fields[1].data_type().clone(), true),
    ])))
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
    use crate::catalog::testing;

    fn entity() -> EntityDef {
        testing::entity("c")
    }

    fn create(name: &str, body: Body) -> CreateTag {
        CreateTag {
            or_replace: false,
            name: QualifiedName {
                entity: "c".into(),
                name: name.into(),
            },
            kind: None,
            category: Some(" a / b/ ".into()),
            description: None,
            owner: None,
            sensitive: false,
            default: None,
            body,
        }
    }

    fn tag(name: &str, deps: &[&str], status: TagStatus) -> TagDef {
        let c = create(name, Body::Expression("1".into()));
        let mut t = draft_tag(&c, &entity(), None, 0, Utc::now());
        t.depends_on = deps.iter().map(|d| d.to_string()).collect();
        t.status = status;
        t
    }

    fn catalog(tags: Vec<TagDef>) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.tags.insert("c".into(), tags);
        catalog
    }

    fn message(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn new_tag_names_are_checked() {
        let e = entity();
        let plain = create("orders", Body::Expression("1".into()));
        assert!(check_new_tag_name(&plain, &e, false).is_ok());
        assert!(message(check_new_tag_name(&plain, &e, true)).contains("already exists"));
        let mut replace = plain.clone();
        replace.or_replace = true;
        assert!(check_new_tag_name(&replace, &e, true).is_ok());
        for reserved in ["ID", "snapshot_at", "__tf_x"] {
            let c = create(reserved, Body::Expression("1".into()));
            assert!(message(check_new_tag_name(&c, &e, false)).contains("it is reserved"));
        }
        let keyword = create("select", Body::Expression("1".into()));
        assert!(message(check_new_tag_name(&keyword, &e, false)).contains("SQL keyword"));
    }

    #[test]
    fn tags_may_not_take_source_column_names() {
        let source = Schema::new(vec![Field::new("Gender", DataType::Utf8, true)]);
        let c = create("gender", Body::Expression("1".into()));
        assert!(message(check_not_a_source_column(&c, &entity(), &source)).contains("('Gender')"));
        let c = create("age", Body::Expression("1".into()));
        assert!(check_not_a_source_column(&c, &entity(), &source).is_ok());
    }

    #[test]
    fn drafts_keep_what_a_replaced_tag_had() {
        let c = create("q", Body::Query("SELECT 1, 2".into()));
        let new = draft_tag(&c, &entity(), None, 7, Utc::now());
        assert_eq!((new.version, new.position), (1, 7));
        assert_eq!(new.definition_kind, DefinitionKind::Query);
        assert_eq!(new.category.as_deref(), Some("a/b"));
        assert_eq!(new.status, TagStatus::Draft);
        let mut old = new.clone();
        (old.version, old.position) = (3, 2);
        let replaced = draft_tag(&c, &entity(), Some(&old), 7, Utc::now());
        assert_eq!((replaced.version, replaced.position), (4, 2));
        assert_eq!(replaced.created_at, old.created_at);
    }

    #[test]
    fn kinds_are_inferred() {
        let deps = vec!["a".to_string()];
        assert_eq!(inferred_kind(true, true, &deps), TagKind::Statistic);
        assert_eq!(inferred_kind(false, true, &deps), TagKind::Model);
        assert_eq!(inferred_kind(false, false, &deps), TagKind::Rule);
        assert_eq!(inferred_kind(false, false, &[]), TagKind::Attribute);
    }

    #[test]
    fn offline_tags_cannot_be_used() {
        let catalog = catalog(vec![
            tag("a", &[], TagStatus::Approved),
            tag("b", &[], TagStatus::Offline),
        ]);
        assert!(check_dependencies_online(&catalog, &entity(), &["a".into()]).is_ok());
        let e = message(check_dependencies_online(
            &catalog,
            &entity(),
            &["a".into(), "b".into()],
        ));
        assert!(e.starts_with("tag c.b is offline"), "{e}");
    }

    #[test]
    fn cycles_are_refused() {
        let catalog = catalog(vec![
            tag("a", &[], TagStatus::Approved),
            tag("b", &["a"], TagStatus::Approved),
        ]);
        assert!(check_no_tag_cycle(&catalog, &tag("c", &["b"], TagStatus::Draft)).is_ok());
        let e = message(check_no_tag_cycle(
            &catalog,
            &tag("a", &["b"], TagStatus::Draft),
        ));
        assert!(e.starts_with("tags depend on each other in a cycle"), "{e}");
    }

    #[test]
    fn expression_rows_have_source_columns_then_other_tags() {
        let source = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let a = tag("a", &[], TagStatus::Approved);
        let schema = expression_schema(&source, &[&a]);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "a"]);
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
    }

    #[test]
    fn dependencies_are_in_profile_order() {
        let (a, b) = (
            tag("a", &[], TagStatus::Approved),
            tag("b", &[], TagStatus::Approved),
        );
        let me = tag("me", &[], TagStatus::Draft);
        let read: BTreeSet<String> = ["b", "a", "id", "me"].map(String::from).into();
        assert_eq!(
            expression_dependencies(&read, &[&b, &a], &me, false),
            ["b", "a"]
        );
        assert_eq!(
            expression_dependencies(&read, &[&b, &a], &me, true),
            ["me", "b", "a"]
        );
    }

    #[test]
    fn tag_queries_return_a_key_and_a_value() {
        let source = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let t = tag("q", &[], TagStatus::Draft);
        let fields = |types: &[DataType]| -> Fields {
            types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
                .collect()
        };
        let schema = query_tag_schema(
            &entity(),
            &source,
            &t,
            &fields(&[DataType::Int32, DataType::Utf8]),
        )
        .unwrap();
        assert_eq!(schema.field(0).name(), KEY_COLUMN);
        assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
        let e = message(query_tag_schema(
            &entity(),
            &source,
            &t,
            &fields(&[DataType::Int64]),
        ));
        assert!(e.contains("returns 1 columns (c0)"), "{e}");
        let e = message(query_tag_schema(
            &entity(),
            &source,
            &t,
            &fields(&[DataType::Utf8, DataType::Int64]),
        ));
        assert!(
            e.starts_with("the first column of tag c.q's query is Utf8"),
            "{e}"
        );
    }

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
