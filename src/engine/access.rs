//! Who is acting, and what they may do (SPEC §5 roles).
//!
//! The CLI acts as the OS user with every right. A front end that serves several users (the
//! Flight SQL server) runs each request inside [`Principal::scope`]; the engine then
//! - refuses statements the role may not run ([`Engine::authorize`]): on the parsed statement
//!   for the DSL, on the logical plan for SQL (a write is a write however it is spelled);
//! - for `viewer`, masks sensitive tags and the source columns they are computed from in every
//!   query, by rewriting the plan's table scans ([`MaskSensitive`], an analyzer rule): a view,
//!   join, subquery or CTE reads the same masked scan, so nothing reaches the result unmasked;
//! - refuses persona lookups to viewers, and suppresses segment-profile groups smaller than the
//!   principal's `min_group_size`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, lit};
use datafusion::optimizer::AnalyzerRule;

use super::Engine;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::parser::Statement;

/// A role of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Queries, personas, segments; no entity or tag DDL, no writes outside the warehouse.
    Analyst,
    /// Read-only; sensitive data masked; no personas; small segment-profile groups suppressed.
    Viewer,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!(
                "unknown role '{other}'; expected admin, analyst or viewer"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        })
    }
}

/// The user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Segment-profile groups with fewer members are suppressed (viewers; 0 = none).
    pub min_group_size: u64,
    /// Draft tags read as NULL (a server setting for non-admin roles, SPEC §2).
    pub hide_drafts: bool,
}

tokio::task_local! {
    static CURRENT: Principal;
}

impl Principal {
    /// Runs `f` acting as this principal.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// The principal of the running request, if a front end set one.
    pub fn current() -> Option<Principal> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

fn forbidden(role: Role, what: &str) -> Error {
    Error::Forbidden(format!("role {role} may not {what}"))
}

impl Engine {
    /// The user acting now: the request's principal, else the engine's (OS) user.
    pub(super) fn acting_user(&self) -> String {
        Principal::current()
            .map(|p| p.name)
            .unwrap_or_else(|| self.user.clone())
    }

    /// Whether the acting principal may run `statement` (SQL is checked again on its plan).
    pub fn authorize(&self, statement: &Statement) -> Result<()> {
        let Some(principal) = Principal::current() else {
            return Ok(());
        };
        let role = principal.role;
        if role == Role::Admin {
            return Ok(());
        }
        let refused = match statement {
            Statement::Sql(_)
            | Statement::ShowEntities
            | Statement::ShowCategories { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowTags(_)
            | Statement::DescribeTag(_)
            | Statement::DescribeEntity(_)
            | Statement::ShowSegments { .. }
            | Statement::DescribeSegment(_)
            | Statement::ShowIdentityGraphs
            | Statement::DescribeIdentityGraph(_)
            | Statement::ProfileSegment { .. } => None,
            Statement::Persona { .. } if role == Role::Viewer => Some("look up personas"),
            Statement::Persona { .. } => None,
            Statement::CreateSegment(_) | Statement::DropSegment { .. } if role == Role::Viewer => {
                Some("create or drop segments (read-only role)")
            }
            Statement::CreateSegment(_) | Statement::DropSegment { .. } => None,
            Statement::CreateEntity(_) | Statement::DropEntity { .. } => {
                Some("create or drop entities")
            }
            Statement::CreateTag(_) | Statement::AlterTag { .. } | Statement::DropTag { .. } => {
                Some("create, alter or drop tags")
            }
            Statement::RefreshEntity { .. } | Statement::RefreshTag(_) => Some("refresh profiles"),
            Statement::CreateIdentityGraph(_)
            | Statement::RefreshIdentityGraph(_)
            | Statement::DropIdentityGraph(_) => Some("create, refresh or drop identity graphs"),
        };
        match refused {
            Some(what) => Err(forbidden(role, what)),
            None => Ok(()),
        }
    }

    /// Whether the acting principal may run this SQL plan: non-admins only read.
    pub(super) fn authorize_plan(&self, plan: &LogicalPlan) -> Result<()> {
        let Some(principal) = Principal::current() else {
            return Ok(());
        };
        if principal.role == Role::Admin {
            return Ok(());
        }
        let mut refused = None;
        plan.apply_with_subqueries(|node| {
            refused = match node {
                LogicalPlan::Dml(_) => Some("write to tables (INSERT, UPDATE, DELETE)"),
                LogicalPlan::Copy(_) => Some("write files (COPY … TO)"),
                LogicalPlan::Ddl(_) => Some("create or drop tables, views or schemas"),
                LogicalPlan::Statement(_) => Some("change session settings or transactions"),
                _ => None,
            };
            Ok(if refused.is_some() {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        match refused {
            Some(what) => Err(forbidden(principal.role, what)),
            None => Ok(()),
        }
    }

    /// Persona lookups (statement and table function) are refused to viewers.
    pub(super) fn authorize_persona(&self) -> Result<()> {
        match Principal::current() {
            Some(p) if p.role == Role::Viewer => Err(forbidden(p.role, "look up personas")),
            _ => Ok(()),
        }
    }
}

/// What is sensitive, per entity: tag columns of its profile tables, and columns of its source
/// table that a sensitive tag is computed from.
#[derive(Debug, Default, Clone)]
pub struct SensitiveColumns {
    /// entity → sensitive tag names.
    tags: HashMap<String, BTreeSet<String>>,
    /// entity → draft tag names.
    drafts: HashMap<String, BTreeSet<String>>,
    /// source table name → sensitive source column names.
    sources: HashMap<String, BTreeSet<String>>,
}

impl SensitiveColumns {
    pub fn of(catalog: &Catalog) -> Self {
        let mut out = SensitiveColumns::default();
        for (entity, tags) in &catalog.tags {
            out.drafts.insert(
                entity.clone(),
                tags.iter()
                    .filter(|t| t.status == "draft")
                    .map(|t| t.name.clone())
                    .collect(),
            );
            let sensitive: Vec<_> = tags.iter().filter(|t| t.sensitive).collect();
            if sensitive.is_empty() {
                continue;
            }
            out.tags
                .entry(entity.clone())
                .or_default()
                .extend(sensitive.iter().map(|t| t.name.clone()));
            if let Some(def) = catalog.entities.get(entity)
                && def.source_kind == "table"
            {
                // Every identifier of a sensitive tag's definition that names a source column.
                let words = out
                    .sources
                    .entry(def.source.to_ascii_lowercase())
                    .or_default();
                for t in &sensitive {
                    words.extend(identifiers(&t.definition));
                }
                // The key identifies rows; it is never masked.
                words.remove(&def.key.to_ascii_lowercase());
                words.remove(&def.key);
            }
        }
        out
    }

    /// The columns of a scanned table to mask (masked text) and to hide (NULL).
    fn for_table(
        &self,
        table: &datafusion::common::TableReference,
        sensitive: bool,
        drafts: bool,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let name = table.table();
        let empty = BTreeSet::new();
        let profile = table
            .schema()
            .filter(|_| name == "profile" || name == "profile_history");
        // Identity graphs hold raw phones, e-mails and device ids.
        let identity = table.schema() == Some(super::identity::IDENTITY_SCHEMA);
        let masked = match profile {
            Some(schema) if sensitive => self.tags.get(schema).unwrap_or(&empty).clone(),
            None if sensitive && identity => BTreeSet::from(["id".to_string()]),
            None if sensitive => self
                .sources
                .get(&name.to_ascii_lowercase())
                .unwrap_or(&empty)
                .clone(),
            _ => BTreeSet::new(),
        };
        let hidden = match profile {
            Some(schema) if drafts => self.drafts.get(schema).unwrap_or(&empty).clone(),
            _ => BTreeSet::new(),
        };
        (masked, hidden)
    }
}

/// The identifiers of an expression's text (lower-cased), from the SQL tokenizer.
fn identifiers(text: &str) -> Vec<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(if w.quote_style.is_some() {
                w.value
            } else {
                w.value.to_ascii_lowercase()
            }),
            _ => None,
        })
        .collect()
}

/// The masked value of a column of type `t`: asterisks for text, NULL otherwise (and NULL
/// for hidden columns).
fn masked(t: &DataType, hidden: bool) -> Expr {
    match t {
        _ if hidden => lit(ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Expr::Cast(
            datafusion::logical_expr::Cast::new(Box::new(lit("******")), t.clone()),
        ),
        other => lit(ScalarValue::try_from(other).unwrap_or(ScalarValue::Null)),
    }
}

/// Analyzer rule: for a viewer, every scan of a profile or source table is wrapped in a
/// projection that replaces sensitive columns with masked values, under the same names.
#[derive(Debug)]
pub(super) struct MaskSensitive {
    engine: Weak<Engine>,
    /// The last sensitive set seen (used while a DDL statement holds the catalog).
    cache: Mutex<Arc<SensitiveColumns>>,
}

impl MaskSensitive {
    pub fn new(engine: Weak<Engine>) -> Self {
        Self {
            engine,
            cache: Mutex::new(Arc::default()),
        }
    }

    fn sensitive(&self) -> Arc<SensitiveColumns> {
        let fresh = self.engine.upgrade().and_then(|e| {
            e.catalog
                .try_read()
                .ok()
                .map(|c| Arc::new(SensitiveColumns::of(&c)))
        });
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(fresh) = fresh {
            *cache = fresh;
        }
        cache.clone()
    }
}

impl AnalyzerRule for MaskSensitive {
    fn name(&self) -> &str {
        "tagfusion_mask_sensitive"
    }

    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<LogicalPlan> {
        let Some(principal) = Principal::current() else {
            return Ok(plan);
        };
        let mask_sensitive = principal.role == Role::Viewer;
        let hide_drafts = principal.hide_drafts && principal.role != Role::Admin;
        if !mask_sensitive && !hide_drafts {
            return Ok(plan);
        }
        let sensitive = self.sensitive();
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let (masked_columns, hidden) =
                sensitive.for_table(&scan.table_name, mask_sensitive, hide_drafts);
            let is = |set: &BTreeSet<String>, name: &str| {
                set.contains(name) || set.contains(&name.to_ascii_lowercase())
            };
            let schema = node.schema().clone();
            if !schema
                .fields()
                .iter()
                .any(|f| is(&masked_columns, f.name()) || is(&hidden, f.name()))
            {
                return Ok(Transformed::no(node));
            }
            let exprs: Vec<Expr> = schema
                .iter()
                .map(|(qualifier, field)| {
                    let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                    let hide = is(&hidden, field.name());
                    let value = if hide || is(&masked_columns, field.name()) {
                        masked(field.data_type(), hide)
                    } else {
                        column
                    };
                    value.alias_qualified(qualifier.cloned(), field.name())
                })
                .collect();
            let projection = Projection::try_new(exprs, Arc::new(node))?;
            Ok(Transformed::yes(LogicalPlan::Projection(projection)))
        })
        .map(|t| t.data)
    }
}
