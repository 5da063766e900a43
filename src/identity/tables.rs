//! The identity tables in the warehouse and the session: `identity.<graph>(id_type, id, one_id)`,
//! `identity.<graph>_rejected` (identifiers that broke a guard, with the reason) and
//! `identity.<graph>_changes` (merges and splits per refresh); graph names and stored definitions.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::IdentityGraphDef;
use crate::error::{Error, Result};
use crate::parser::{CreateIdentityGraph, Statement, parse};
use crate::warehouse::snapshot_type;

/// The schema the identity tables are registered in.
pub const IDENTITY_SCHEMA: &str = "identity";

pub(crate) fn mapping_path(graph: &str) -> String {
    format!("identity/{graph}")
}
pub(crate) fn rejected_path(graph: &str) -> String {
    format!("identity/{graph}_rejected")
}
pub(crate) fn changes_path(graph: &str) -> String {
    format!("identity/{graph}_changes")
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

pub(crate) fn mapping_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("id_type"),
        utf8("id"),
        int("one_id"),
    ]))
}
pub(crate) fn rejected_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("id_type"),
        utf8("id"),
        utf8("reason"),
    ]))
}
pub(crate) fn changes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("refreshed_at", snapshot_type(), true),
        utf8("event"),
        int("one_id"),
        int("other_one_id"),
    ]))
}

/// `batches` with their columns cast to `schema` (after `prefix` columns, if any).
pub(crate) fn conform(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    prefix: impl Fn(usize) -> Vec<ArrayRef>,
) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            let mut columns = prefix(b.num_rows());
            let offset = columns.len();
            for (i, column) in b.columns().iter().enumerate() {
                let field = schema.field(offset + i);
                columns.push(datafusion::arrow::compute::cast(column, field.data_type())?);
            }
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
}

/// A graph name becomes table names and a warehouse folder: letters, digits and `_`, and not
/// the name of another graph's rejected or changes table.
pub(crate) fn check_graph_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(Error::invalid(format!(
            "identity graph name '{name}' may hold only letters, digits and _"
        )));
    }
    if name.ends_with("_rejected") || name.ends_with("_changes") {
        return Err(Error::invalid(format!(
            "identity graph name '{name}' ends like another graph's table (_rejected, _changes)"
        )));
    }
    Ok(())
}

/// The graph definition of a stored CREATE statement.
pub(crate) fn spec_of(def: &IdentityGraphDef) -> Result<CreateIdentityGraph> {
    match parse(&def.definition)?
        .into_iter()
        .next()
        .map(|s| s.statement)
    {
        Some(Statement::CreateIdentityGraph(c)) => Ok(c),
        _ => Err(Error::invalid(format!(
            "the stored definition of identity graph {} is unreadable",
            def.name
        ))),
    }
}
