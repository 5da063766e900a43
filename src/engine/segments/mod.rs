//! Segments (客群): boolean conditions over an entity's tags and other segments. Each segment
//! is a view `<entity>.<segment>` over the latest profile, rebuilt whenever the profile moves to
//! a new snapshot.

mod persona;
mod profile;
mod sets;
pub(in crate::engine) mod table_functions;

pub use profile::{ProfileRow, SegmentProfile};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::SchemaProvider;

use crate::catalog::{Catalog, EntityDef, SegmentDef, TagDef, store};
use crate::compiler;
use crate::engine::ddl::referenced_columns;
use crate::engine::output::{Cell, table};
use crate::engine::refresh::segment_column;
use crate::engine::scratch::Scratch;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{CreateSegment, QualifiedName, quote_ident, quote_str};

/// Names in an entity's schema that a segment may not take.
const TAKEN: &[&str] = &["profile", "profile_history", "keys", "bitmaps"];

/// `segment` and the segments it reads, dependencies first.
fn closure_in_order<'a>(catalog: &'a Catalog, segment: &'a SegmentDef) -> Vec<&'a SegmentDef> {
    fn visit<'a>(
        catalog: &'a Catalog,
        s: &'a SegmentDef,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<&'a SegmentDef>,
    ) {
        if !seen.insert(s.name.clone()) {
            return;
        }
        for d in &s.segments {
            let name = QualifiedName {
                entity: s.entity.clone(),
                name: d.clone(),
            };
            if let Some(dep) = catalog.find_segment(&name) {
                visit(catalog, dep, seen, out);
            }
        }
        out.push(s);
    }
    let mut out = Vec::new();
    visit(catalog, segment, &mut BTreeSet::new(), &mut out);
    out
}

/// `segments` and every segment they read, dependencies first, each once.
fn closure_of_all<'a>(catalog: &'a Catalog, segments: &[&'a SegmentDef]) -> Vec<&'a SegmentDef> {
    let mut out: Vec<&SegmentDef> = Vec::new();
    for s in segments {
        for d in closure_in_order(catalog, s) {
            if !out.iter().any(|o| o.name == d.name) {
                out.push(d);
            }
        }
    }
    out
}

/// The latest profile plus the given segments as boolean columns named after them, each
/// computed over the columns before it.
fn chain_sql(entity: &str, order: &[&SegmentDef]) -> String {
    let mut sql = format!("SELECT * FROM {}.profile", quote_ident(entity));
    for (n, s) in order.iter().enumerate() {
        sql = format!(
            "SELECT *, ({}) AS {} FROM ({sql}) AS __tf_seg{n}",
            s.definition,
            quote_ident(&s.name)
        );
    }
    sql
}

/// The view of a segment: the profile rows where its condition holds. Segments it reads are
/// computed as boolean columns first, in dependency order.
fn segment_sql(catalog: &Catalog, segment: &SegmentDef, profile_columns: &[String]) -> String {
    let order: Vec<&SegmentDef> = closure_in_order(catalog, segment)
        .into_iter()
        .filter(|d| d.name != segment.name)
        .collect();
    let sql = chain_sql(&segment.entity, &order);
    let columns: Vec<String> = profile_columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "SELECT {} FROM ({sql}) AS __tf_segment WHERE ({})",
        columns.join(", "),
        segment.definition
    )
}

/// The checks on a new segment's name: not taken (unless replacing), not the name of a tag,
/// the key or a table of the entity, usable as a column.
fn check_new_segment_name(
    c: &CreateSegment,
    entity: &EntityDef,
    tags: &[TagDef],
    exists: bool,
) -> Result<()> {
    if exists && !c.or_replace {
        return Err(Error::invalid(format!(
            "segment {} already exists; use CREATE OR REPLACE SEGMENT to change it",
            c.name
        )));
    }
    let name = &c.name.name;
    if TAKEN.contains(&name.as_str())
        || name.eq_ignore_ascii_case(&entity.key)
        || tags.iter().any(|t| t.name.eq_ignore_ascii_case(name))
    {
        return Err(Error::invalid(format!(
            "'{name}' cannot name a segment of {}: a tag, the key or a table of the entity has that name",
            entity.name
        )));
    }
    if !crate::parser::usable_as_column(name) {
        return Err(crate::engine::ddl::keyword_name(
            "segment",
            name,
            &entity.name,
        ));
    }
    Ok(())
}

/// The row a segment's condition is planned over: the key, the tags, and the `others`
/// segments as booleans.
fn condition_schema(
    entity: &EntityDef,
    key_type: DataType,
    tags: &[TagDef],
    others: &[&SegmentDef],
) -> Schema {
    let mut fields = vec![Field::new(&entity.key, key_type, true)];
    for t in tags {
        fields.push(Field::new(&t.name, t.value_type.data_type().clone(), true));
    }
    for s in others {
        fields.push(Field::new(&s.name, DataType::Boolean, true));
    }
    Schema::new(fields)
}

/// The tags and the segments a condition reads (its plan reads the columns `read`), in
/// catalog order; the segment itself last when it reads itself and `exists` (a replaced
/// definition).
fn condition_reads(
    read: &BTreeSet<String>,
    tags: &[TagDef],
    others: &[&SegmentDef],
    name: &str,
    exists: bool,
) -> (Vec<String>, Vec<String>) {
    let used_tags: Vec<String> = tags
        .iter()
        .filter(|t| read.contains(&t.name))
        .map(|t| t.name.clone())
        .collect();
    let mut used_segments: Vec<String> = others
        .iter()
        .filter(|s| read.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    if read.contains(name) && exists {
        used_segments.push(name.to_string());
    }
    (used_tags, used_segments)
}

/// Offline tags may not be used by new definitions.
fn check_tags_online(tags: &[TagDef], used: &[String]) -> Result<()> {
    match tags
        .iter()
        .find(|t| used.contains(&t.name) && !t.is_active())
    {
        Some(t) => Err(Error::invalid(format!(
            "tag {} is offline (下架) and cannot be used by new definitions; bring it back with \
             ALTER TAG {} SET STATUS approved",
            t.qualified(),
            t.qualified()
        ))),
        None => Ok(()),
    }
}

/// Segment `name` reading `segments` must not close a cycle among the entity's segments.
fn check_no_segment_cycle(
    catalog: &Catalog,
    entity: &str,
    name: &str,
    segments: &[String],
) -> Result<()> {
    let mut graph: BTreeMap<String, Vec<String>> = catalog
        .segments_of(entity)
        .iter()
        .map(|s| (s.name.clone(), s.segments.clone()))
        .collect();
    graph.insert(name.to_string(), segments.to_vec());
    let Some(cycle) = compiler::find_cycle(&graph) else {
        return Ok(());
    };
    let path: Vec<String> = cycle.iter().map(|s| format!("{entity}.{s}")).collect();
    Err(Error::invalid(format!(
        "segments depend on each other in a cycle: {}; change one definition so it does not read the other",
        path.join(" -> ")
    )))
}

/// The definition a CREATE SEGMENT describes, without the tags and segments it reads. A
/// replaced segment keeps its position and creation time and goes up one version; a new one
/// goes after the entity's other segments.
fn draft_segment(
    c: &CreateSegment,
    catalog: &Catalog,
    existing: Option<&SegmentDef>,
    now: DateTime<Utc>,
) -> SegmentDef {
    let position = catalog
        .segments_of(&c.name.entity)
        .iter()
        .map(|s| s.position + 1)
        .max()
        .unwrap_or(0);
    SegmentDef {
        entity: c.name.entity.clone(),
        name: c.name.name.clone(),
        description: c.description.clone(),
        definition: c.definition.clone(),
        tags: Vec::new(),
        segments: Vec::new(),
        version: existing.map(|s| s.version + 1).unwrap_or(1),
        position: existing.map(|s| s.position).unwrap_or(position),
        created_at: existing.map(|s| s.created_at).unwrap_or(now),
        updated_at: now,
    }
}

/// The name of the membership column of the `n`th segment in [`Engine::membership_sql`].
pub(in crate::engine) fn member_column(n: usize) -> String {
    format!("__tf_m{n}")
}

impl Engine {
    pub(in crate::engine) async fn create_segment(&self, c: &CreateSegment) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        let entity = catalog.entity(&c.name.entity)?.clone();
        let existing = catalog.find_segment(&c.name).cloned();
        let tags = catalog.tags_of(&entity.name);
        check_new_segment_name(c, &entity, tags, existing.is_some())?;
        // Plan the condition over an empty relation shaped like the profile plus the other
        // segments as booleans: unknown names, types and dependencies without reading data.
        let source = self.source_schema(&entity.source()).await?;
        let key_type = source
            .field_with_name(&entity.key)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Utf8);
        let others: Vec<&SegmentDef> = catalog
            .segments_of(&entity.name)
            .iter()
            .filter(|s| s.name != c.name.name)
            .collect();
        let schema = condition_schema(&entity, key_type, tags, &others);
        let read = self.check_condition(c, schema).await?;
        let (used_tags, used_segments) =
            condition_reads(&read, tags, &others, &c.name.name, existing.is_some());
        check_tags_online(tags, &used_tags)?;
        check_no_segment_cycle(&catalog, &entity.name, &c.name.name, &used_segments)?;

        let def = SegmentDef {
            tags: used_tags,
            segments: used_segments,
            ..draft_segment(c, &catalog, existing.as_ref(), Utc::now())
        };
        let list = catalog.segments.entry(entity.name.clone()).or_default();
        match list.iter_mut().find(|s| s.name == def.name) {
            Some(slot) => *slot = def,
            None => list.push(def),
        }
        store::save_segments(&self.warehouse, &catalog).await?;
        self.commit_catalog(catalog, Some(&entity.name)).await?;
        Ok(Output::empty())
    }

    /// Plans a segment's condition over an empty relation of `schema`: it must be a boolean.
    /// Returns the columns it reads.
    async fn check_condition(&self, c: &CreateSegment, schema: Schema) -> Result<BTreeSet<String>> {
        let candidates: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut scratch = Scratch::new(&self.ctx);
        let relation = scratch.register(Arc::new(schema), Vec::new())?;
        let sql = format!(
            "SELECT ({}) AS v FROM {}",
            c.definition,
            quote_ident(&relation)
        );
        let plan = self
            .plan_definition(&sql, ("segment", &c.name), "tag or segment", &candidates)
            .await?;
        let value_type = plan.schema().field(0).data_type().clone();
        if value_type != DataType::Boolean {
            return Err(Error::invalid(format!(
                "the condition of segment {} is {value_type}, not a boolean; compare it, e.g. `orders_30d > 0`",
                c.name
            )));
        }
        Ok(referenced_columns(&plan))
    }

    pub(in crate::engine) async fn drop_segment(
        &self,
        name: &QualifiedName,
        cascade: bool,
    ) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let mut catalog = self.catalog_to_change();
        catalog.segment(name)?;
        let doomed =
            catalog.segments_with_dependents(&name.entity, BTreeSet::from([name.name.clone()]));
        if doomed.len() > 1 && !cascade {
            let users: Vec<String> = doomed
                .iter()
                .filter(|d| **d != name.name)
                .map(|d| format!("{}.{d}", name.entity))
                .collect();
            return Err(Error::invalid(format!(
                "segment {name} is used by {}; drop those first or use DROP SEGMENT {name} CASCADE",
                users.join(", ")
            )));
        }
        if let Some(list) = catalog.segments.get_mut(&name.entity) {
            list.retain(|s| !doomed.contains(&s.name));
        }
        store::save_segments(&self.warehouse, &catalog).await?;
        self.deregister_segments(&name.entity, &doomed)?;
        self.commit_catalog(catalog, Some(&name.entity)).await?;
        Ok(Output::empty())
    }

    /// SQL over the latest profile of `entity`: every profile column plus one boolean column per
    /// segment, [`member_column`]`(n)`, true for members and false for everyone else. The
    /// conditions are computed inline in one pass; a segment DataFusion cannot compute as a
    /// column (an `IN (subquery)`) is joined from its view instead.
    pub(in crate::engine) async fn membership_sql(
        &self,
        catalog: &Catalog,
        entity: &EntityDef,
        segments: &[&SegmentDef],
    ) -> Result<String> {
        let flags: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(n, s)| {
                format!(
                    "coalesce({}, false) AS {}",
                    quote_ident(&s.name),
                    member_column(n)
                )
            })
            .collect();
        let inline = format!(
            "SELECT *, {} FROM ({}) AS __tf_members",
            flags.join(", "),
            chain_sql(&entity.name, &closure_of_all(catalog, segments))
        );
        if let Ok(df) = self.ctx.sql(&inline).await
            && df.create_physical_plan().await.is_ok()
        {
            // Only the profile's columns and the flags: segment columns stay internal.
            let profile = self
                .ctx
                .table(format!("{}.profile", quote_ident(&entity.name)).as_str())
                .await?;
            let mut columns: Vec<String> = profile
                .schema()
                .fields()
                .iter()
                .map(|f| quote_ident(f.name()))
                .collect();
            columns.extend((0..segments.len()).map(member_column));
            return Ok(format!(
                "SELECT {} FROM ({inline}) AS __tf_inline",
                columns.join(", ")
            ));
        }
        let key = quote_ident(&entity.key);
        let mut joins = String::new();
        let mut flags = Vec::new();
        for (n, s) in segments.iter().enumerate() {
            joins.push_str(&format!(
                " LEFT JOIN (SELECT DISTINCT {key} AS __tf_k FROM {}.{}) AS __tf_j{n} ON __tf_p.{key} = __tf_j{n}.__tf_k",
                quote_ident(&entity.name),
                quote_ident(&s.name)
            ));
            flags.push(format!(
                "(__tf_j{n}.__tf_k IS NOT NULL) AS {}",
                member_column(n)
            ));
        }
        Ok(format!(
            "SELECT __tf_p.*, {} FROM {}.profile AS __tf_p{joins}",
            flags.join(", "),
            quote_ident(&entity.name)
        ))
    }

    pub(in crate::engine) fn deregister_segments(
        &self,
        entity: &str,
        names: &BTreeSet<String>,
    ) -> Result<()> {
        let schema = self.schema(entity)?;
        for n in names {
            schema.deregister_table(n)?;
        }
        Ok(())
    }

    /// (Re-)registers the views of an entity's segments over its current profile. A segment
    /// that reads a tag the latest snapshot does not have yet gets its view at the next refresh.
    pub(in crate::engine) async fn register_segments(
        &self,
        catalog: &Catalog,
        entity: &str,
        schema: &Arc<dyn SchemaProvider>,
    ) -> Result<()> {
        let profile = match self
            .ctx
            .table(format!("{}.profile", quote_ident(entity)))
            .await
        {
            Ok(df) => df,
            Err(_) => {
                for s in catalog.segments_of(entity) {
                    schema.deregister_table(&s.name)?;
                }
                return Ok(());
            }
        };
        let columns: Vec<String> = profile
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for segment in catalog.segments_of(entity) {
            let sql = segment_sql(catalog, segment, &columns);
            schema.deregister_table(&segment.name)?;
            if let Ok(df) = self.ctx.sql(&sql).await {
                schema.register_table(segment.name.clone(), df.into_view())?;
            }
        }
        Ok(())
    }

    pub(in crate::engine) async fn show_segments(&self, entity: Option<&str>) -> Result<Output> {
        let filter = match entity {
            Some(e) => {
                self.catalog().entity(e)?;
                format!("WHERE entity = {}", quote_str(e))
            }
            None => String::new(),
        };
        let df = self
            .ctx
            .sql(&format!(
                "SELECT entity, name AS segment, definition, description FROM tagfusion.segments \
                 {filter} ORDER BY entity, position"
            ))
            .await?;
        Ok(Output::from_stream(df.execute_stream().await?))
    }

    pub(in crate::engine) async fn describe_segment(&self, name: &QualifiedName) -> Result<Output> {
        let catalog = self.catalog();
        let segment = catalog.segment(name)?.clone();
        let used_by: Vec<String> = catalog
            .segments_of(&name.entity)
            .iter()
            .filter(|s| s.segments.contains(&name.name))
            .map(|s| s.name.clone())
            .collect();
        let view = format!("{}.{}", quote_ident(&name.entity), quote_ident(&name.name));
        let size = match self.ctx.table(view.as_str()).await {
            Ok(df) => Some(df.count().await?.to_string()),
            Err(_) => None,
        };
        let latest = catalog
            .latest_snapshot(&name.entity)
            .map(|s| s.snapshot_at.format("%Y-%m-%d %H:%M:%S").to_string());
        let history = self.segment_history(&segment).await?;
        let rows: Vec<(&str, Option<String>)> = vec![
            ("name", Some(segment.qualified().to_string())),
            ("description", segment.description.clone()),
            ("definition", Some(segment.definition.clone())),
            ("tags", Some(segment.tags.join(", "))),
            ("segments", Some(segment.segments.join(", "))),
            ("used_by", Some(used_by.join(", "))),
            ("version", Some(segment.version.to_string())),
            ("size", size),
            ("snapshot", latest),
        ];
        let mut cells: Vec<Vec<Cell>> = rows
            .into_iter()
            .map(|(k, v)| vec![Cell::from(k), Cell::from(v)])
            .collect();
        for (at, size) in history {
            cells.push(vec![
                Cell::from(format!("size at {at}")),
                Cell::from(size.to_string()),
            ]);
        }
        table(&["property", "value"], cells)
    }

    /// Members of a segment per snapshot (`YYYY-MM-DD HH:MM:SS`, size), oldest first.
    pub async fn segment_sizes(&self, name: &QualifiedName) -> Result<Vec<(String, i64)>> {
        let segment = self.catalog().segment(name)?.clone();
        self.segment_history(&segment).await
    }

    /// Members per snapshot, from the membership recorded with each snapshot.
    async fn segment_history(&self, segment: &SegmentDef) -> Result<Vec<(String, i64)>> {
        let history = format!("{}.profile_history", quote_ident(&segment.entity));
        let column = segment_column(&segment.name);
        let Ok(df) = self.ctx.table(history.as_str()).await else {
            return Ok(Vec::new());
        };
        if df.schema().field_with_unqualified_name(&column).is_err() {
            return Ok(Vec::new());
        }
        let batches = self
            .ctx
            .sql(&format!(
                "SELECT to_char(snapshot_at, '%Y-%m-%d %H:%M:%S'), \
                        CAST(count(*) FILTER (WHERE {col}) AS BIGINT) \
                 FROM {history} WHERE {col} IS NOT NULL GROUP BY snapshot_at ORDER BY snapshot_at",
                col = quote_ident(&column)
            ))
            .await?
            .collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            use datafusion::arrow::array::AsArray;
            use datafusion::arrow::datatypes::Int64Type;
            let at = b.column(0).as_string::<i32>();
            let n = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                out.push((at.value(i).to_string(), n.value(i)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testing;
    use crate::parser::TagStatus;

    fn entity() -> EntityDef {
        testing::entity("c")
    }

    fn tag(name: &str, status: TagStatus) -> TagDef {
        TagDef {
            status,
            ..testing::tag("c", name)
        }
    }

    fn create(name: &str) -> CreateSegment {
        CreateSegment {
            or_replace: false,
            name: QualifiedName {
                entity: "c".into(),
                name: name.into(),
            },
            description: None,
            definition: "orders > 0".into(),
        }
    }

    fn segment(name: &str, segments: &[&str], position: i64) -> SegmentDef {
        SegmentDef {
            segments: segments.iter().map(|s| s.to_string()).collect(),
            position,
            ..draft_segment(&create(name), &Catalog::default(), None, Utc::now())
        }
    }

    fn catalog(segments: Vec<SegmentDef>) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.segments.insert("c".into(), segments);
        catalog
    }

    fn message(r: Result<()>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn new_segment_names_are_checked() {
        let tags = [tag("orders", TagStatus::Approved)];
        let e = entity();
        assert!(check_new_segment_name(&create("vip"), &e, &tags, false).is_ok());
        assert!(
            message(check_new_segment_name(&create("vip"), &e, &tags, true))
                .contains("already exists")
        );
        for taken in ["profile", "ID", "Orders"] {
            let m = message(check_new_segment_name(&create(taken), &e, &tags, false));
            assert!(m.contains("cannot name a segment of c"), "{m}");
        }
        let m = message(check_new_segment_name(&create("select"), &e, &tags, false));
        assert!(m.contains("SQL keyword"), "{m}");
    }

    #[test]
    fn conditions_see_the_key_tags_and_other_segments() {
        let tags = [tag("orders", TagStatus::Approved)];
        let vip = segment("vip", &[], 0);
        let schema = condition_schema(&entity(), DataType::Int64, &tags, &[&vip]);
        let fields: Vec<(&str, &DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(
            fields,
            [
                ("id", &DataType::Int64),
                ("orders", &DataType::Int64),
                ("vip", &DataType::Boolean)
            ]
        );
    }

    #[test]
    fn reads_split_into_tags_and_segments() {
        let tags = [tag("a", TagStatus::Approved), tag("b", TagStatus::Approved)];
        let vip = segment("vip", &[], 0);
        let read: BTreeSet<String> = ["b", "vip", "me", "id"].map(String::from).into();
        let (t, s) = condition_reads(&read, &tags, &[&vip], "me", false);
        assert_eq!((t, s), (vec!["b".to_string()], vec!["vip".to_string()]));
        let (_, s) = condition_reads(&read, &tags, &[&vip], "me", true);
        assert_eq!(s, ["vip", "me"]);
    }

    #[test]
    fn offline_tags_cannot_be_read() {
        let tags = [tag("a", TagStatus::Approved), tag("b", TagStatus::Offline)];
        assert!(check_tags_online(&tags, &["a".into()]).is_ok());
        assert!(message(check_tags_online(&tags, &["b".into()])).starts_with("tag c.b is offline"));
    }

    #[test]
    fn segment_cycles_are_refused() {
        let catalog = catalog(vec![segment("a", &[], 0), segment("b", &["a"], 1)]);
        assert!(check_no_segment_cycle(&catalog, "c", "x", &["b".into()]).is_ok());
        let m = message(check_no_segment_cycle(&catalog, "c", "a", &["b".into()]));
        assert!(
            m.starts_with("segments depend on each other in a cycle: c."),
            "{m}"
        );
    }

    #[test]
    fn drafts_go_last_or_keep_their_place() {
        let catalog = catalog(vec![segment("a", &[], 0), segment("b", &[], 4)]);
        let new = draft_segment(&create("x"), &catalog, None, Utc::now());
        assert_eq!((new.version, new.position), (1, 5));
        let old = segment("a", &[], 0);
        let replaced = draft_segment(&create("a"), &catalog, Some(&old), Utc::now());
        assert_eq!((replaced.version, replaced.position), (2, 0));
        assert_eq!(replaced.created_at, old.created_at);
    }
}
