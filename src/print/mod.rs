//! Printing results, shared by every front end: table ([`table`], for people), csv (with
//! header), json (an array per statement) and ndjson, all written by arrow's writers.

pub mod table;

use std::io::Write;

use clap::ValueEnum;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;

use crate::engine::Output;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

/// How results print: the format, and for tables the most rows shown (`None`: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    pub format: Format,
    pub max_rows: Option<usize>,
}

impl PrintOptions {
    /// Every row, in `format` (scripts, the demo).
    pub fn all(format: Format) -> Self {
        PrintOptions {
            format,
            max_rows: None,
        }
    }
}

fn write_err(e: std::io::Error) -> Error {
    Error::io("cannot write the output", e)
}

/// CSV has no nested values: list, struct and map columns are written as their display text
/// (`[服饰, 食品]`), as the table format shows them.
fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| (!column.is_null(i)).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Prints one statement's rows. Statements without columns (DDL) print nothing. Rows stream:
/// csv and ndjson are written batch by batch; table and json need the whole result.
pub async fn print_output(
    mut output: Output,
    options: &PrintOptions,
    out: &mut impl Write,
) -> Result<()> {
    if !output.has_columns() {
        while let Some(batch) = output.stream.next().await {
            batch?;
        }
        return Ok(());
    }
    let schema = output.schema.clone();
    match options.format {
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            let mut wrote = false;
            while let Some(batch) = output.stream.next().await {
                writer.write(&flatten_nested(&batch?)?)?;
                wrote = true;
            }
            if !wrote {
                writer.write(&flatten_nested(&RecordBatch::new_empty(schema))?)?;
            }
        }
        Format::Ndjson => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            while let Some(batch) = output.stream.next().await {
                writer.write(&batch?)?;
            }
            writer.finish()?;
        }
        Format::Json => {
            let batches = output.collect().await?;
            let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
            for b in &batches {
                writer.write(b)?;
            }
            writer.finish()?;
            let bytes = writer.into_inner();
            out.write_all(if bytes.is_empty() { b"[]" } else { &bytes })
                .map_err(write_err)?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        Format::Table => {
            let (text, _) = table::render(output, options.max_rows).await?;
            out.write_all(text.as_bytes()).map_err(write_err)?;
        }
    }
    out.flush().map_err(write_err)
}
