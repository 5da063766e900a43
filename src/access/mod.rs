//! Who is acting, and what they may do (SPEC §5 roles): roles and the policy here, masking
//! ([`mask`]), the audit trail ([`audit`]) and tag usage ([`usage`]).
//!
//! The CLI acts as the OS user with every right. A front end that serves several users (the
//! Flight SQL server) runs each request inside [`Principal::scope`]; the engine then
//! - refuses statements the role may not run ([`authorize`], [`authorize_plan`]): on the parsed statement
//!   for the DSL, on the logical plan for SQL (a write is a write however it is spelled);
//! - for `viewer`, masks sensitive tags and the source columns they are computed from in every
//!   query, by rewriting the plan's table scans ([`MaskSensitive`], an analyzer rule): a view,
//!   join, subquery or CTE reads the same masked scan, so nothing reaches the result unmasked;
//! - refuses persona lookups to viewers, and suppresses segment-profile groups smaller than the
//!   principal's `min_group_size`.

pub mod audit;
pub mod mask;
pub mod usage;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;

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

/// The user acting now: the request's principal, else `default` (the engine's OS user).
pub fn acting_user(default: &str) -> String {
    Principal::current()
        .map(|p| p.name)
        .unwrap_or_else(|| default.to_string())
}

/// Whether the acting principal may run `statement` (SQL is checked again on its plan).
pub fn authorize(statement: &Statement) -> Result<()> {
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
        | Statement::ProfileSegment { .. }
        | Statement::ExplainRefresh { .. } => None,
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
pub fn authorize_plan(plan: &LogicalPlan) -> Result<()> {
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
pub fn authorize_persona() -> Result<()> {
    match Principal::current() {
        Some(p) if p.role == Role::Viewer => Err(forbidden(p.role, "look up personas")),
        _ => Ok(()),
    }
}
