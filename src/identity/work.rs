//! The working state of one resolution: every step's result is a small in-memory table
//! registered in the session under a name unique to this resolution, so the next step is a
//! DataFusion query over it; all of them are dropped at the end.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::Result;

/// Intermediate tables of one resolution, registered under unique names, dropped at the end.
pub(super) struct Work<'a> {
    ctx: &'a SessionContext,
    prefix: String,
    names: Vec<String>,
}

impl<'a> Work<'a> {
    pub(super) fn new(ctx: &'a SessionContext) -> Self {
        Self {
            ctx,
            prefix: format!("__tf_idg_{}", uuid::Uuid::new_v4().simple()),
            names: Vec::new(),
        }
    }

    /// The registered name of work table `name`.
    pub(super) fn t(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// Runs `sql` and keeps its rows as work table `name`.
    pub(super) async fn put(&mut self, name: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let df = self.ctx.sql(sql).await?;
        let planned = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        // The batches' own schema: nullability can differ from the planned one.
        let schema = batches.first().map(|b| b.schema()).unwrap_or(planned);
        self.register(name, schema, batches.clone())?;
        Ok(batches)
    }

    /// Registers an existing table (the previous mapping) as work table `name`, without
    /// copying it.
    pub(super) fn adopt(&mut self, name: &str, provider: Arc<dyn TableProvider>) -> Result<()> {
        let table = self.t(name);
        let _ = self.ctx.deregister_table(table.as_str());
        self.ctx.register_table(table.as_str(), provider)?;
        self.names.push(table);
        Ok(())
    }

    fn register(&mut self, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        let table = self.t(name);
        let _ = self.ctx.deregister_table(table.as_str());
        // Spread over the session's partitions, so the next step scans in parallel.
        let n = self.ctx.state().config().target_partitions().max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); n.min(batches.len().max(1))];
        let slots = partitions.len();
        for (i, batch) in batches.into_iter().enumerate() {
            partitions[i % slots].push(batch);
        }
        self.ctx.register_table(
            table.as_str(),
            Arc::new(MemTable::try_new(schema, partitions)?),
        )?;
        self.names.push(table);
        Ok(())
    }

    /// The first column of the first row of `sql`'s result as an integer (0 if none).
    pub(super) async fn count(&self, sql: &str) -> Result<i64> {
        let batches = self.ctx.sql(sql).await?.collect().await?;
        Ok(first_int(&batches).unwrap_or(0))
    }

    /// The number of rows of work table `name`.
    pub(super) async fn rows(&self, name: &str) -> Result<i64> {
        self.count(&format!("SELECT count(*) FROM {}", self.t(name)))
            .await
    }
}

impl Drop for Work<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.ctx.deregister_table(name.as_str());
        }
    }
}

fn first_int(batches: &[RecordBatch]) -> Option<i64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = datafusion::arrow::compute::cast(batch.column(0), &DataType::Int64).ok()?;
    let ints = column.as_any().downcast_ref::<Int64Array>()?;
    (!ints.is_null(0)).then(|| ints.value(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn batch(values: Vec<Option<i32>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(values))]).expect("batch")
    }

    #[test]
    fn first_int_reads_the_first_row_of_any_integer_type() {
        assert_eq!(first_int(&[]), None);
        assert_eq!(first_int(&[batch(vec![]), batch(vec![Some(7)])]), Some(7));
        assert_eq!(first_int(&[batch(vec![None])]), None);
    }
}
