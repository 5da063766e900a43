//! The result of one statement: a schema and a stream of record batches.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::TryStreamExt;

use crate::error::Result;

pub struct Output {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
}

impl Output {
    /// A statement that returns no rows (DDL).
    pub fn empty() -> Self {
        Self::from_batches(Arc::new(Schema::empty()), Vec::new())
    }

    pub fn from_stream(stream: SendableRecordBatchStream) -> Self {
        Self {
            schema: stream.schema(),
            stream,
        }
    }

    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Self {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        }
    }

    /// Whether the statement produces rows at all (a query, SHOW…) rather than only acting.
    pub fn has_columns(&self) -> bool {
        !self.schema.fields().is_empty()
    }

    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        Ok(self.stream.try_collect().await?)
    }
}

/// One cell of a small result built in Rust (SHOW, DESCRIBE, REFRESH summaries).
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(Some(s.to_string()))
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(Some(s))
    }
}
impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Self {
        Cell::Text(s)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(Some(v))
    }
}

/// Builds a one-batch output from rows of cells; a column's type follows its first row.
pub fn table(columns: &[&str], rows: Vec<Vec<Cell>>) -> Result<Output> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, name) in columns.iter().enumerate() {
        let is_int = rows
            .first()
            .is_some_and(|r| matches!(r.get(i), Some(Cell::Int(_))));
        if is_int {
            let values: Int64Array = rows
                .iter()
                .map(|r| match r.get(i) {
                    Some(Cell::Int(v)) => *v,
                    _ => None,
                })
                .collect();
            fields.push(Field::new(*name, DataType::Int64, true));
            arrays.push(Arc::new(values));
        } else {
            let values: StringArray = rows
                .iter()
                .map(|r| match r.get(i) {
                    Some(Cell::Text(v)) => v.clone(),
                    Some(Cell::Int(v)) => v.map(|v| v.to_string()),
                    None => None,
                })
                .collect();
            fields.push(Field::new(*name, DataType::Utf8, true));
            arrays.push(Arc::new(values));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(datafusion::error::DataFusionError::from)?;
    Ok(Output::from_batches(schema, vec![batch]))
}
