//! Definitions: CREATE / ALTER / DROP of entities ([`entity`]) and tags ([`tag`]), the source
//! tables and views the warehouse remembers ([`sources`]), SHOW and DESCRIBE ([`show`]), and
//! the checks they share.

mod entity;
mod show;
pub(in crate::engine) mod sources;
mod tag;

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::parser::EntitySource;

/// Schema names an entity may not take.
pub(super) const RESERVED: &[&str] = &[
    "tagfusion",
    "public",
    "information_schema",
    "datafusion",
    "_catalog",
    "demo",
    "identity",
];

impl Engine {
    /// The schema of an entity's source relation.
    pub(in crate::engine) async fn source_schema(
        &self,
        source: &EntitySource,
    ) -> Result<SchemaRef> {
        let sql = format!("SELECT * FROM {} AS __tf_src LIMIT 0", source.as_relation());
        let df = self.ctx.sql(&sql).await.map_err(|e| self.diagnose(e))?;
        Ok(Arc::new(df.schema().as_arrow().clone()))
    }
}

/// The column DataFusion could not find, from its "No field named x" message.
/// A tag or segment named like a SQL keyword: refused, since queries could not name it.
pub(in crate::engine) fn keyword_name(what: &str, name: &str, entity: &str) -> Error {
    Error::invalid(format!(
        "'{name}' cannot name a {what} of {entity}: it is a SQL keyword, and `SELECT {name} FROM \
         {entity}.profile` would not read it as a column; choose another name, e.g. \
         '{name}_{what}' or a more specific one"
    ))
}

/// Names of all columns any node of the plan reads.
pub(in crate::engine) fn referenced_columns(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        for expr in node.expressions() {
            for c in expr.column_refs() {
                out.insert(c.name.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}
