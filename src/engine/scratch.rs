//! Temporary tables for validation and refresh: uniquely named, removed when dropped.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::Result;

pub(super) struct Scratch<'a> {
    ctx: &'a SessionContext,
    names: Vec<String>,
}

impl<'a> Scratch<'a> {
    pub fn new(ctx: &'a SessionContext) -> Self {
        Self {
            ctx,
            names: Vec::new(),
        }
    }

    /// Registers `batches` under a fresh name and returns it.
    pub fn register(&mut self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<String> {
        let name = format!("__tf_{}", uuid::Uuid::new_v4().simple());
        let table = MemTable::try_new(schema, vec![batches])?;
        self.ctx.register_table(name.as_str(), Arc::new(table))?;
        self.names.push(name.clone());
        Ok(name)
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.ctx.deregister_table(name.as_str());
        }
    }
}
